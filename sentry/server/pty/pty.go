package pty

import (
	"encoding/binary"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

const (
	// MaxTerminals bounds the terminals of one Table (Linux's default
	// /proc/sys/kernel/pty/max is 4096).
	MaxTerminals = 4096
	// queueMax bounds each direction's queue, as n_tty's 4 KiB read
	// buffer and the pty's write room bound Linux's; larger here, since
	// every read and write is a round trip.
	// The output queue may pass it by the two bytes of one processed
	// character (ONLCR's "\r\n", ECHOCTL's "^X", ECHOE's "\b \b").
	queueMax = 64 << 10
	// lineMax is the longest canonical line (n_tty: 4095 characters and
	// the terminator).
	lineMax = 4095
	// SizeofTermios is the size of struct termios as TCGETS copies it.
	SizeofTermios = 36
	// SizeofWinsize is the size of struct winsize.
	SizeofWinsize = 8
)

// Table holds the terminals of one client's /dev/pts.
type Table struct {
	// Changed, if set, is called with a terminal's index after a change
	// of what its record holds (record.go): the terminal made or gone,
	// an end opened or closed, its termios, window size, lock, session
	// or foreground group. It is called with no lock of this package
	// held. Set by the server before the table's first use; immutable.
	Changed func(index int)

	mu    sync.Mutex
	terms map[int]*Terminal
}

// New makes a terminal with the lowest free index, its master open and
// its slave locked (as opening /dev/ptmx does). ENOSPC past MaxTerminals.
func (t *Table) New() (*Terminal, error) {
	term, err := t.newTerminal()
	if err == nil {
		t.changed(term.Index)
	}
	return term, err
}

func (t *Table) newTerminal() (*Terminal, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.terms == nil {
		t.terms = make(map[int]*Terminal)
	}
	for i := 0; i < MaxTerminals; i++ {
		if _, used := t.terms[i]; used {
			continue
		}
		term := &Terminal{Index: i, table: t, termios: linux.DefaultReplicaTermios, locked: true, masterOpen: true,
			changed: make(chan struct{})}
		t.terms[i] = term
		return term, nil
	}
	return nil, unix.ENOSPC
}

// Get returns terminal i, or nil.
func (t *Table) Get(i int) *Terminal {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.terms[i]
}

// Indexes returns the indexes of the live terminals, sorted.
func (t *Table) Indexes() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]int, 0, len(t.terms))
	for i := range t.terms {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// Terminal is one pseudo-terminal pair.
type Terminal struct {
	// Index is its number (/dev/pts/<Index>). Immutable.
	Index int
	table *Table

	mu      sync.Mutex
	termios linux.KernelTermios
	winsize linux.Winsize
	// locked says the slave may not be opened (TIOCSPTLCK).
	locked bool
	// line is the canonical line being edited; input is what the slave
	// may read; lineEnds are the offsets in input where canonical lines
	// end (a read returns at most one line; an end at the read position
	// is an EOF: a read of 0 bytes).
	line     []byte
	input    []byte
	lineEnds []int
	// output is what the master may read.
	output []byte
	// masterOpen says the master is open; slaves counts open slave
	// descriptions; slaveClosed says the last one closed (the master
	// then reads EIO, as Linux's).
	masterOpen  bool
	slaves      int
	slaveClosed bool
	// sid and fgPgrp are the session this is the controlling terminal
	// of and its foreground process group (0: none); the server sets
	// them.
	sid, fgPgrp int32
	// changed is closed, and replaced, on every change of the queues or
	// of the ends' states.
	changed chan struct{}
}

// notifyLocked wakes the waiters on Changed.
func (t *Terminal) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// Changed returns a channel closed at the terminal's next change.
func (t *Terminal) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// CloseMaster closes the master: the slave is hung up (reads return 0,
// writes EIO) and the terminal leaves the table once no slave is open.
func (t *Terminal) CloseMaster() {
	t.mu.Lock()
	t.masterOpen = false
	gone := t.slaves == 0
	t.notifyLocked()
	t.mu.Unlock()
	if gone {
		t.remove()
	}
	t.table.changed(t.Index)
}

func (t *Terminal) remove() {
	t.table.mu.Lock()
	if t.table.terms[t.Index] == t {
		delete(t.table.terms, t.Index)
	}
	t.table.mu.Unlock()
}

// OpenSlave opens the slave: EIO while it is locked or once the master
// is closed.
func (t *Terminal) OpenSlave() error {
	t.mu.Lock()
	if t.locked || !t.masterOpen {
		t.mu.Unlock()
		return unix.EIO
	}
	t.slaves++
	t.slaveClosed = false
	t.notifyLocked()
	t.mu.Unlock()
	t.table.changed(t.Index)
	return nil
}

// CloseSlave closes one slave description.
func (t *Terminal) CloseSlave() {
	t.mu.Lock()
	t.slaves--
	if t.slaves == 0 {
		t.slaveClosed = true
		// The session ends with its last open of the terminal.
		t.sid, t.fgPgrp = 0, 0
	}
	gone := t.slaves == 0 && !t.masterOpen
	t.notifyLocked()
	t.mu.Unlock()
	if gone {
		t.remove()
	}
	t.table.changed(t.Index)
}

// SetLocked sets the slave's lock (TIOCSPTLCK).
func (t *Terminal) SetLocked(locked bool) {
	t.mu.Lock()
	t.locked = locked
	t.mu.Unlock()
	t.table.changed(t.Index)
}

// Locked says the slave is locked (TIOCGPTLCK).
func (t *Terminal) Locked() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.locked
}

// Termios returns struct termios (TCGETS).
func (t *Terminal) Termios() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	tt := t.termios.ToTermios()
	b := make([]byte, SizeofTermios)
	tt.MarshalUnsafe(b)
	return b
}

// SetTermios sets struct termios (TCSETS*): a switch out of canonical
// mode makes the line being edited readable.
func (t *Terminal) SetTermios(b []byte) error {
	if len(b) < SizeofTermios {
		return unix.EINVAL
	}
	var tt linux.Termios
	tt.UnmarshalUnsafe(b[:SizeofTermios])
	defer t.table.changed(t.Index)
	t.mu.Lock()
	defer t.mu.Unlock()
	wasCanon := t.termios.LEnabled(linux.ICANON)
	t.termios.FromTermios(tt)
	switch canon := t.termios.LEnabled(linux.ICANON); {
	case wasCanon && !canon:
		t.input = append(t.input, t.line...)
		t.line, t.lineEnds = nil, nil
	case !wasCanon && canon && len(t.input) > 0:
		// What raw mode queued is readable as it stands.
		t.lineEnds = []int{len(t.input)}
	}
	t.notifyLocked()
	return nil
}

// Winsize returns struct winsize.
func (t *Terminal) Winsize() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := make([]byte, SizeofWinsize)
	t.winsize.MarshalUnsafe(b)
	return b
}

// SetWinsize sets struct winsize and returns whether it changed (the
// caller then sends SIGWINCH to the foreground group).
func (t *Terminal) SetWinsize(b []byte) (bool, error) {
	if len(b) < SizeofWinsize {
		return false, unix.EINVAL
	}
	var w linux.Winsize
	w.UnmarshalUnsafe(b[:SizeofWinsize])
	defer t.table.changed(t.Index)
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := w != t.winsize
	t.winsize = w
	return changed, nil
}

// Session returns the session and foreground process group.
func (t *Terminal) Session() (sid, fgPgrp int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sid, t.fgPgrp
}

// SetSession makes the terminal session sid's controlling terminal with
// foreground group pgrp (TIOCSCTTY); sid 0 detaches it (TIOCNOTTY).
func (t *Terminal) SetSession(sid, pgrp int32) {
	t.mu.Lock()
	t.sid, t.fgPgrp = sid, pgrp
	t.mu.Unlock()
	t.table.changed(t.Index)
}

// SetForeground sets the foreground process group (TIOCSPGRP).
func (t *Terminal) SetForeground(pgrp int32) {
	t.mu.Lock()
	t.fgPgrp = pgrp
	t.mu.Unlock()
	t.table.changed(t.Index)
}

// Flush discards queued input (TCIFLUSH), output (TCOFLUSH) or both.
func (t *Terminal) Flush(input, output bool) {
	defer t.table.changed(t.Index)
	t.mu.Lock()
	defer t.mu.Unlock()
	if input {
		t.line, t.input, t.lineEnds = nil, nil, nil
	}
	if output {
		t.output = nil
	}
	t.notifyLocked()
}

// SlaveReadable returns how many bytes a slave read may return now
// (FIONREAD).
func (t *Terminal) SlaveReadable() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.termios.LEnabled(linux.ICANON) {
		if len(t.lineEnds) == 0 {
			return 0
		}
		return t.lineEnds[0]
	}
	return len(t.input)
}

// MasterReadable returns how many bytes the master may read now.
func (t *Terminal) MasterReadable() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.output)
}

// MasterRead returns up to n bytes the slave wrote: EAGAIN when there
// are none yet, EIO once no slave is open.
func (t *Terminal) MasterRead(n int) (out []byte, err error) {
	defer func() {
		if len(out) > 0 {
			t.table.changed(t.Index)
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.output) == 0 {
		if t.slaveClosed {
			return nil, unix.EIO
		}
		return nil, unix.EAGAIN
	}
	n = min(n, len(t.output))
	out = append([]byte(nil), t.output[:n]...)
	t.output = t.output[n:]
	if len(t.output) == 0 {
		t.output = nil
	}
	t.notifyLocked()
	return out, nil
}

// SlaveRead returns up to n bytes of input (at most one line in
// canonical mode; 0 bytes for an EOF character or a hung up terminal):
// EAGAIN when none is ready.
func (t *Terminal) SlaveRead(n int) (out []byte, err error) {
	defer func() {
		if err == nil {
			t.table.changed(t.Index)
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	avail := len(t.input)
	canon := t.termios.LEnabled(linux.ICANON)
	if canon {
		avail = 0
		if len(t.lineEnds) > 0 {
			avail = t.lineEnds[0]
		}
	}
	if avail == 0 {
		if canon && len(t.lineEnds) > 0 {
			// An EOF at the start of a line: one read of 0 bytes.
			t.lineEnds = t.lineEnds[1:]
			t.notifyLocked()
			return nil, nil
		}
		if !t.masterOpen {
			return nil, nil
		}
		return nil, unix.EAGAIN
	}
	n = min(n, avail)
	out = append([]byte(nil), t.input[:n]...)
	t.input = t.input[n:]
	if canon {
		for i := range t.lineEnds {
			t.lineEnds[i] -= n
		}
		if t.lineEnds[0] == 0 {
			t.lineEnds = t.lineEnds[1:]
		}
	}
	if len(t.input) == 0 {
		t.input = nil
	}
	t.notifyLocked()
	return out, nil
}

// SlaveWrite queues b for the master with output processing; it returns
// how much it took (EAGAIN when the queue is full, EIO once the master
// is closed).
func (t *Terminal) SlaveWrite(b []byte) (n int, err error) {
	defer func() {
		if n > 0 {
			t.table.changed(t.Index)
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.masterOpen {
		return 0, unix.EIO
	}
	n = 0
	for _, c := range b {
		if len(t.output) >= queueMax {
			break
		}
		t.outputLocked(c)
		n++
	}
	if n == 0 && len(b) > 0 {
		return 0, unix.EAGAIN
	}
	t.notifyLocked()
	return n, nil
}

// outputLocked queues c for the master as OPOST processes it.
func (t *Terminal) outputLocked(c byte) {
	if t.termios.OEnabled(linux.OPOST) {
		switch {
		case c == '\n' && t.termios.OEnabled(linux.ONLCR):
			t.output = append(t.output, '\r', '\n')
			return
		case c == '\r' && t.termios.OEnabled(linux.OCRNL):
			c = '\n'
		}
	}
	t.output = append(t.output, c)
}

// echoLocked echoes input character c: with ECHOCTL a control character
// (but tab and newline) as ^X.
func (t *Terminal) echoLocked(c byte) {
	if len(t.output) >= queueMax {
		return // no room: the echo is dropped (as n_tty's when its buffer is full)
	}
	if t.termios.LEnabled(linux.ECHOCTL) && (c < 0x20 || c == 0x7f) && c != '\t' && c != '\n' {
		t.outputLocked('^')
		t.outputLocked(c ^ 0x40)
		return
	}
	t.outputLocked(c)
}

// eraseLocked removes the last character of the line, echoing its
// erasure with ECHOE; it returns false if the line is empty.
func (t *Terminal) eraseLocked() bool {
	if len(t.line) == 0 {
		return false
	}
	t.line = t.line[:len(t.line)-1]
	if t.termios.LEnabled(linux.ECHO) && t.termios.LEnabled(linux.ECHOE) && len(t.output) < queueMax {
		t.output = append(t.output, '\b', ' ', '\b')
	}
	return true
}

// pushLineLocked makes the line readable.
func (t *Terminal) pushLineLocked() {
	t.input = append(t.input, t.line...)
	t.line = nil
	t.lineEnds = append(t.lineEnds, len(t.input))
}

// MasterWrite feeds b to the line discipline as typed input. It returns
// how much it took (EAGAIN when the input queue is full) and the signals
// ISIG characters raise, for the foreground process group.
func (t *Terminal) MasterWrite(b []byte) (n int, sigs []linux.Signal, err error) {
	defer func() {
		if n > 0 {
			t.table.changed(t.Index)
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	tio := &t.termios
	cc := tio.ControlCharacters
	is := func(c byte, i int) bool { return cc[i] != 0 && c == cc[i] }
	n = 0
	for _, c := range b {
		if len(t.input)+len(t.line) >= queueMax {
			break
		}
		n++
		switch {
		case c == '\r' && tio.IEnabled(linux.IGNCR):
			continue
		case c == '\r' && tio.IEnabled(linux.ICRNL):
			c = '\n'
		case c == '\n' && tio.IEnabled(linux.INLCR):
			c = '\r'
		}
		if tio.LEnabled(linux.ISIG) {
			var sig linux.Signal
			switch {
			case is(c, linux.VINTR):
				sig = linux.SIGINT
			case is(c, linux.VQUIT):
				sig = linux.SIGQUIT
			case is(c, linux.VSUSP):
				sig = linux.SIGTSTP
			}
			if sig != 0 {
				sigs = append(sigs, sig)
				if !tio.LEnabled(linux.NOFLSH) {
					t.line, t.input, t.lineEnds = nil, nil, nil
				}
				if tio.LEnabled(linux.ECHO) {
					t.echoLocked(c)
				}
				continue
			}
		}
		if tio.LEnabled(linux.ICANON) {
			switch {
			case is(c, linux.VERASE):
				t.eraseLocked()
				continue
			case is(c, linux.VWERASE) && tio.LEnabled(linux.IEXTEN):
				for len(t.line) > 0 && t.line[len(t.line)-1] == ' ' {
					t.eraseLocked()
				}
				for len(t.line) > 0 && t.line[len(t.line)-1] != ' ' {
					t.eraseLocked()
				}
				continue
			case is(c, linux.VKILL):
				if tio.LEnabled(linux.ECHO) && tio.LEnabled(linux.ECHOE) && tio.LEnabled(linux.ECHOKE) {
					for t.eraseLocked() {
					}
					continue
				}
				t.line = nil
				if tio.LEnabled(linux.ECHO) {
					t.echoLocked(c)
					if tio.LEnabled(linux.ECHOK) && len(t.output) < queueMax {
						t.outputLocked('\n')
					}
				}
				continue
			case is(c, linux.VEOF):
				t.pushLineLocked()
				continue
			case c == '\n' || is(c, linux.VEOL) || is(c, linux.VEOL2):
				t.line = append(t.line, c)
				t.pushLineLocked()
				if tio.LEnabled(linux.ECHO) || (c == '\n' && tio.LEnabled(linux.ECHONL)) {
					t.echoLocked(c)
				}
				continue
			}
			if len(t.line) >= lineMax {
				continue // n_tty drops what does not fit the line
			}
			t.line = append(t.line, c)
		} else {
			t.input = append(t.input, c)
		}
		if tio.LEnabled(linux.ECHO) {
			t.echoLocked(c)
		}
	}
	if n == 0 && len(b) > 0 {
		return 0, nil, unix.EAGAIN
	}
	t.notifyLocked()
	return n, sigs, nil
}

// Readiness is the poll state of each end.
type Readiness struct {
	// In and Out say a read or a write would not block; Hup that the
	// other end is gone.
	In, Out, Hup bool
}

// MasterReadiness returns the master's poll state.
func (t *Terminal) MasterReadiness() Readiness {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Readiness{
		In:  len(t.output) > 0 || t.slaveClosed,
		Out: len(t.input)+len(t.line) < queueMax,
		Hup: t.slaveClosed,
	}
}

// SlaveReadiness returns a slave's poll state.
func (t *Terminal) SlaveReadiness() Readiness {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := len(t.input) > 0
	if t.termios.LEnabled(linux.ICANON) {
		in = len(t.lineEnds) > 0
	}
	return Readiness{
		In:  in || !t.masterOpen,
		Out: len(t.output) < queueMax || !t.masterOpen,
		Hup: !t.masterOpen,
	}
}

// The offset of struct termios's c_lflag, and its TOSTOP bit
// (background writes raise SIGTTOU).
const (
	termiosLflagOffset = 12
	tostop             = 0x100
)

// StopsWrites says the struct termios b has TOSTOP set.
func StopsWrites(b []byte) bool {
	return len(b) >= termiosLflagOffset+4 && binary.LittleEndian.Uint32(b[termiosLflagOffset:])&tostop != 0
}
