package pty

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

func newOpen(t *testing.T) *Terminal {
	t.Helper()
	var tab Table
	term, err := tab.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := term.OpenSlave(); !errors.Is(err, unix.EIO) {
		t.Fatalf("open of a locked slave: %v, want EIO", err)
	}
	term.SetLocked(false)
	if err := term.OpenSlave(); err != nil {
		t.Fatal(err)
	}
	return term
}

// readAll drains one end.
func readAll(read func(int) ([]byte, error)) string {
	var out []byte
	for {
		b, err := read(4096)
		if err != nil || len(b) == 0 {
			return string(out)
		}
		out = append(out, b...)
	}
}

// TestLineDiscipline types into the master of a terminal in its default
// (cooked) mode or in raw mode and checks what the slave reads and what
// the master reads back (the echo), as Linux's n_tty gives them.
func TestLineDiscipline(t *testing.T) {
	for _, tc := range []struct {
		name       string
		raw        bool
		typed      string
		wantReads  []string // successive slave reads
		wantEcho   string
		wantSignal []linux.Signal
	}{
		{name: "line with ICRNL", typed: "hello\r", wantReads: []string{"hello\n"}, wantEcho: "hello\r\n"},
		{name: "partial line is not readable", typed: "abc", wantReads: []string{""}, wantEcho: "abc"},
		{name: "erase", typed: "abx\x7fc\n", wantReads: []string{"abc\n"}, wantEcho: "abx\b \bc\r\n"},
		{name: "kill", typed: "junk\x15ok\n", wantReads: []string{"ok\n"}, wantEcho: "junk\b \b\b \b\b \b\b \bok\r\n"},
		{name: "word erase", typed: "one two\x17three\n", wantReads: []string{"one three\n"}, wantEcho: "one two\b \b\b \b\b \bthree\r\n"},
		{name: "one line per read", typed: "a\nb\n", wantReads: []string{"a\n", "b\n"}, wantEcho: "a\r\nb\r\n"},
		{name: "EOF", typed: "x\x04\x04", wantReads: []string{"x", ""}, wantEcho: "x"},
		{name: "interrupt", typed: "abc\x03", wantReads: []string{""}, wantEcho: "abc^C", wantSignal: []linux.Signal{linux.SIGINT}},
		{name: "quit and suspend", typed: "\x1c\x1a", wantEcho: "^\\^Z", wantSignal: []linux.Signal{linux.SIGQUIT, linux.SIGTSTP}},
		{name: "raw", raw: true, typed: "ab\r\x03", wantReads: []string{"ab\r\x03"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			term := newOpen(t)
			if tc.raw {
				var tt linux.Termios
				tt.UnmarshalUnsafe(term.Termios())
				tt.InputFlags &^= linux.ICRNL
				tt.LocalFlags &^= linux.ICANON | linux.ECHO | linux.ISIG
				b := make([]byte, SizeofTermios)
				tt.MarshalUnsafe(b)
				if err := term.SetTermios(b); err != nil {
					t.Fatal(err)
				}
			}
			n, sigs, err := term.MasterWrite([]byte(tc.typed))
			if err != nil || n != len(tc.typed) {
				t.Fatalf("MasterWrite: %d, %v", n, err)
			}
			if len(sigs) != len(tc.wantSignal) {
				t.Errorf("signals %v, want %v", sigs, tc.wantSignal)
			}
			for i := range sigs {
				if i < len(tc.wantSignal) && sigs[i] != tc.wantSignal[i] {
					t.Errorf("signals %v, want %v", sigs, tc.wantSignal)
				}
			}
			for _, want := range tc.wantReads {
				got, err := term.SlaveRead(100)
				if want == "" && errors.Is(err, unix.EAGAIN) {
					continue
				}
				if err != nil || string(got) != want {
					t.Errorf("slave read %q, %v; want %q", got, err, want)
				}
			}
			if got := readAll(term.MasterRead); got != tc.wantEcho {
				t.Errorf("echo %q, want %q", got, tc.wantEcho)
			}
		})
	}
}

// TestOutputAndHangup checks the slave's output processing, and both
// ends' view of the other's close.
func TestOutputAndHangup(t *testing.T) {
	term := newOpen(t)
	if n, err := term.SlaveWrite([]byte("a\nb")); n != 3 || err != nil {
		t.Fatalf("SlaveWrite: %d %v", n, err)
	}
	if got := readAll(term.MasterRead); got != "a\r\nb" {
		t.Errorf("master read %q, want ONLCR's %q", got, "a\r\nb")
	}
	if _, err := term.MasterRead(10); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("empty master read: %v, want EAGAIN", err)
	}
	if r := term.SlaveReadiness(); r.In || !r.Out {
		t.Errorf("slave readiness %+v", r)
	}
	term.CloseSlave()
	if _, err := term.MasterRead(10); !errors.Is(err, unix.EIO) {
		t.Errorf("master read after the slave closed: %v, want EIO", err)
	}
	if err := term.OpenSlave(); err != nil {
		t.Fatalf("reopen of the slave: %v", err)
	}
	term.CloseMaster()
	if b, err := term.SlaveRead(10); err != nil || len(b) != 0 {
		t.Errorf("slave read after hangup: %q %v, want EOF", b, err)
	}
	if _, err := term.SlaveWrite([]byte("x")); !errors.Is(err, unix.EIO) {
		t.Errorf("slave write after hangup: %v, want EIO", err)
	}
	term.CloseSlave()
	if got := term.table.Get(term.Index); got != nil {
		t.Errorf("terminal %d still in its table after both ends closed", term.Index)
	}
}

func TestTableIndexes(t *testing.T) {
	var tab Table
	a, _ := tab.New()
	b, _ := tab.New()
	if a.Index != 0 || b.Index != 1 {
		t.Fatalf("indexes %d %d", a.Index, b.Index)
	}
	a.CloseMaster()
	c, _ := tab.New()
	if c.Index != 0 {
		t.Errorf("a freed index is not reused: %d", c.Index)
	}
	if got := tab.Indexes(); len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Errorf("Indexes %v", got)
	}
}

func TestStopsWrites(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lflag uint32
		size  int
		want  bool
	}{
		{name: "TOSTOP", lflag: 0x100, size: SizeofTermios, want: true},
		{name: "other bits", lflag: 0x8a3b, size: SizeofTermios, want: false},
		{name: "TOSTOP among others", lflag: 0x8b3b, size: SizeofTermios, want: true},
		{name: "too short", lflag: 0x100, size: 15, want: false},
	} {
		b := make([]byte, max(tc.size, 16))
		binary.LittleEndian.PutUint32(b[12:], tc.lflag)
		if got := StopsWrites(b[:tc.size]); got != tc.want {
			t.Errorf("%s: StopsWrites = %v, want %v", tc.name, got, tc.want)
		}
	}
}
