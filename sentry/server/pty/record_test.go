package pty

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestRecordRestore derives a terminal's record after raw mode, a window
// size, a session and a lock, restores it into a fresh table, and finds
// the same terminal there; a terminal no restored description opens is
// pruned.
func TestRecordRestore(t *testing.T) {
	var changes []int
	old := Table{Changed: func(i int) { changes = append(changes, i) }}
	a, err := old.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.New(); err != nil {
		t.Fatal(err)
	}
	a.SetLocked(false)
	if err := a.OpenSlave(); err != nil {
		t.Fatal(err)
	}
	var raw linux.Termios
	raw.UnmarshalUnsafe(a.Termios())
	raw.LocalFlags &^= linux.ICANON | linux.ECHO
	raw.OutputFlags &^= linux.OPOST
	raw.InputFlags &^= linux.ICRNL
	rawBytes := make([]byte, SizeofTermios)
	raw.MarshalUnsafe(rawBytes)
	if err := a.SetTermios(rawBytes); err != nil {
		t.Fatal(err)
	}
	ws := []byte{24, 0, 80, 0, 0, 0, 0, 0}
	if _, err := a.SetWinsize(ws); err != nil {
		t.Fatal(err)
	}
	a.SetSession(7, 9)
	a.SetForeground(11)
	if want := []int{0, 1, 0, 0, 0, 0, 0, 0}; !slices.Equal(changes, want) {
		t.Errorf("Changed calls %v, want %v (New, New, unlock, open, termios, winsize, session, foreground)", changes, want)
	}

	var states []*sentrypb.PtyState
	for _, i := range []int{0, 1} {
		rec := old.Record(i)
		if rec.Key != []string{"pty/0", "pty/1"}[i] || rec.GetPty() == nil {
			t.Fatalf("record %d: %v", i, rec)
		}
		states = append(states, rec.GetPty())
	}
	var fresh Table
	if err := fresh.Restore(states); err != nil {
		t.Fatal(err)
	}
	ra := fresh.Get(0)
	if err := ra.AttachMaster(); err != nil {
		t.Fatal(err)
	}
	if err := ra.AttachMaster(); !errors.Is(err, unix.EINVAL) {
		t.Errorf("a second master: %v, want EINVAL", err)
	}
	ra.AttachSlave()
	if gone := fresh.Prune(); !slices.Equal(gone, []int{1}) {
		t.Errorf("pruned %v, want [1] (terminal 1 had no description restored)", gone)
	}
	if !bytes.Equal(ra.Termios(), a.Termios()) || !bytes.Equal(ra.Winsize(), ws) || ra.Locked() {
		t.Errorf("restored termios %x winsize %x locked %v; want %x %x false", ra.Termios(), ra.Winsize(), ra.Locked(), a.Termios(), ws)
	}
	if sid, fg := ra.Session(); sid != 7 || fg != 11 {
		t.Errorf("restored session %d, foreground %d; want 7, 11", sid, fg)
	}
	// The restored pair works, raw: typed bytes reach the slave as they
	// are, and what the slave writes reaches the master unprocessed.
	if n, _, err := ra.MasterWrite([]byte("ab\r")); n != 3 || err != nil {
		t.Fatalf("master write: %d %v", n, err)
	}
	if got, err := ra.SlaveRead(10); string(got) != "ab\r" || err != nil {
		t.Errorf("slave read %q %v, want \"ab\\r\"", got, err)
	}
	if _, err := ra.SlaveWrite([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := ra.MasterRead(10); string(got) != "x\n" {
		t.Errorf("master read %q, want \"x\\n\" (OPOST off)", got)
	}
	// Closing both ends removes the terminal: its record is deleted.
	ra.CloseSlave()
	ra.CloseMaster()
	if rec := fresh.Record(0); !rec.Deleted || rec.Key != "pty/0" {
		t.Errorf("record after close: %v, want pty/0 deleted", rec)
	}
	// A slave closed for good is remembered (the master reads EIO).
	c, _ := old.New()
	c.SetLocked(false)
	c.OpenSlave()
	c.CloseSlave()
	var again Table
	if err := again.Restore([]*sentrypb.PtyState{old.Record(c.Index).GetPty()}); err != nil {
		t.Fatal(err)
	}
	rc := again.Get(c.Index)
	rc.AttachMaster()
	if _, err := rc.MasterRead(10); !errors.Is(err, unix.EIO) {
		t.Errorf("restored master whose slave closed: read %v, want EIO", err)
	}
}

func TestRestoreRefuses(t *testing.T) {
	good := func() *sentrypb.PtyState {
		return &sentrypb.PtyState{Index: 3, Termios: make([]byte, SizeofTermios), Winsize: make([]byte, SizeofWinsize)}
	}
	for _, tc := range []struct {
		name   string
		states func() []*sentrypb.PtyState
	}{
		{"nil", func() []*sentrypb.PtyState { return []*sentrypb.PtyState{nil} }},
		{"negative index", func() []*sentrypb.PtyState { s := good(); s.Index = -1; return []*sentrypb.PtyState{s} }},
		{"index past the max", func() []*sentrypb.PtyState { s := good(); s.Index = MaxTerminals; return []*sentrypb.PtyState{s} }},
		{"short termios", func() []*sentrypb.PtyState { s := good(); s.Termios = s.Termios[:10]; return []*sentrypb.PtyState{s} }},
		{"long winsize", func() []*sentrypb.PtyState { s := good(); s.Winsize = make([]byte, 9); return []*sentrypb.PtyState{s} }},
		{"negative session", func() []*sentrypb.PtyState { s := good(); s.Sid = -4; return []*sentrypb.PtyState{s} }},
		{"twice", func() []*sentrypb.PtyState { return []*sentrypb.PtyState{good(), good()} }},
		{"line end past the input", func() []*sentrypb.PtyState {
			s := good()
			s.Input, s.LineEnds = []byte("ab"), []int32{3}
			return []*sentrypb.PtyState{s}
		}},
		{"line ends backwards", func() []*sentrypb.PtyState {
			s := good()
			s.Input, s.LineEnds = []byte("abcd"), []int32{3, 1}
			return []*sentrypb.PtyState{s}
		}},
		{"too many line ends", func() []*sentrypb.PtyState {
			s := good()
			s.LineEnds = make([]int32, queueMax+1)
			return []*sentrypb.PtyState{s}
		}},
		{"output past the bound", func() []*sentrypb.PtyState {
			s := good()
			s.Output = make([]byte, queueMax+4)
			return []*sentrypb.PtyState{s}
		}},
		{"line past the bound", func() []*sentrypb.PtyState {
			s := good()
			s.Line = make([]byte, lineMax+1)
			return []*sentrypb.PtyState{s}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tab Table
			if err := tab.Restore(tc.states()); !errors.Is(err, unix.EINVAL) {
				t.Errorf("Restore: %v, want EINVAL", err)
			}
		})
	}
}

// TestRecordKeepsQueues: what was typed and not read (a whole line and
// the line being edited) and what the slave wrote and the master did not
// read come back with the terminal.
func TestRecordKeepsQueues(t *testing.T) {
	var old Table
	a := newOpenIn(t, &old)
	if _, _, err := a.MasterWrite([]byte("one\ntw")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SlaveWrite([]byte("out\n")); err != nil {
		t.Fatal(err)
	}
	var fresh Table
	if err := fresh.Restore([]*sentrypb.PtyState{old.Record(a.Index).GetPty()}); err != nil {
		t.Fatal(err)
	}
	r := fresh.Get(a.Index)
	r.AttachMaster()
	r.AttachSlave()
	if got, _ := r.SlaveRead(100); string(got) != "one\n" {
		t.Errorf("first slave read %q, want \"one\\n\"", got)
	}
	if _, err := r.SlaveRead(100); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("the line being edited is readable: %v", err)
	}
	r.MasterWrite([]byte("o\n"))
	if got, _ := r.SlaveRead(100); string(got) != "two\n" {
		t.Errorf("second slave read %q, want \"two\\n\"", got)
	}
	if got := readAll(r.MasterRead); got != "one\r\ntwout\r\no\r\n" {
		t.Errorf("master read %q, want the echo and the output", got)
	}
}

// newOpenIn is newOpen in tab.
func newOpenIn(t *testing.T, tab *Table) *Terminal {
	t.Helper()
	term, err := tab.New()
	if err != nil {
		t.Fatal(err)
	}
	term.SetLocked(false)
	if err := term.OpenSlave(); err != nil {
		t.Fatal(err)
	}
	return term
}
