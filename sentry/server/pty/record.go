package pty

import (
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// The replay state of the terminals: a terminal's record ("pty/<index>",
// PtyState) holds its termios, window size, lock, session, foreground
// group, whether its last slave closed, and its queues (what the slave
// may read, the line being edited, what the master may read), so every
// read and write changes it; which ends are open is in the records of
// their descriptions, which the server restores after the terminals
// (Attach*).

// changed reports a change of terminal index's record to the table's
// Changed hook. Called with no lock of this package held.
func (t *Table) changed(index int) {
	if t.Changed != nil {
		t.Changed(index)
	}
}

// Record is the replay record of terminal index: its PtyState, or a
// deleted record once it has left the table.
func (t *Table) Record(index int) *sentrypb.StateRecord {
	key := statekey.Pty(int32(index)).String()
	term := t.Get(index)
	if term == nil {
		return &sentrypb.StateRecord{Key: key, Deleted: true}
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	tt := term.termios.ToTermios()
	st := &sentrypb.PtyState{Index: int32(index), Termios: make([]byte, SizeofTermios), Winsize: make([]byte, SizeofWinsize),
		Locked: term.locked, Sid: term.sid, FgPgrp: term.fgPgrp, SlaveClosed: term.slaveClosed,
		Input: clone(term.input), Line: clone(term.line), Output: clone(term.output)}
	for _, e := range term.lineEnds {
		st.LineEnds = append(st.LineEnds, int32(e))
	}
	tt.MarshalUnsafe(st.Termios)
	term.winsize.MarshalUnsafe(st.Winsize)
	return &sentrypb.StateRecord{Key: key, Value: &sentrypb.StateRecord_Pty{Pty: st}}
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// CheckState returns an error (EINVAL) if st cannot be a terminal's
// record: it comes from the client, over the network.
func CheckState(st *sentrypb.PtyState) error {
	if err := checkHeader(st); err != nil {
		return err
	}
	if len(st.Input)+len(st.Line) > queueMax || len(st.Line) > lineMax || len(st.Output) > queueMax+3 {
		return fmt.Errorf("pty %d: queues of %d, %d and %d bytes: %w", st.Index, len(st.Input), len(st.Line), len(st.Output), unix.EINVAL)
	}
	prev := int32(0)
	for _, e := range st.LineEnds {
		if e < prev || int(e) > len(st.Input) {
			return fmt.Errorf("pty %d: line ends %v in %d bytes: %w", st.Index, st.LineEnds, len(st.Input), unix.EINVAL)
		}
		prev = e
	}
	if len(st.LineEnds) > queueMax {
		// EOFs typed at the start of a line are ends of their own.
		return fmt.Errorf("pty %d: %d line ends: %w", st.Index, len(st.LineEnds), unix.EINVAL)
	}
	return nil
}

func checkHeader(st *sentrypb.PtyState) error {
	switch {
	case st == nil:
		return fmt.Errorf("no pty state: %w", unix.EINVAL)
	case st.Index < 0 || st.Index >= MaxTerminals:
		return fmt.Errorf("pty index %d: %w", st.Index, unix.EINVAL)
	case len(st.Termios) != SizeofTermios || len(st.Winsize) != SizeofWinsize:
		return fmt.Errorf("pty %d: termios of %d bytes, winsize of %d: %w", st.Index, len(st.Termios), len(st.Winsize), unix.EINVAL)
	case st.Sid < 0 || st.FgPgrp < 0:
		return fmt.Errorf("pty %d: session %d, foreground group %d: %w", st.Index, st.Sid, st.FgPgrp, unix.EINVAL)
	}
	return nil
}

// Restore makes the terminals of a Restore's records in an empty table,
// with no end open: the restored descriptions then attach theirs
// (AttachMaster, AttachSlave), and Prune drops the terminals that got
// none.
func (t *Table) Restore(states []*sentrypb.PtyState) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.terms == nil {
		t.terms = make(map[int]*Terminal)
	}
	for _, st := range states {
		if err := CheckState(st); err != nil {
			return err
		}
		i := int(st.Index)
		if t.terms[i] != nil {
			return fmt.Errorf("pty %d restored twice: %w", i, unix.EINVAL)
		}
		var tt linux.Termios
		tt.UnmarshalUnsafe(st.Termios)
		term := &Terminal{Index: i, table: t, locked: st.Locked, sid: st.Sid, fgPgrp: st.FgPgrp,
			slaveClosed: st.SlaveClosed, changed: make(chan struct{})}
		term.termios.FromTermios(tt)
		term.winsize.UnmarshalUnsafe(st.Winsize)
		term.input, term.line, term.output = clone(st.Input), clone(st.Line), clone(st.Output)
		for _, e := range st.LineEnds {
			term.lineEnds = append(term.lineEnds, int(e))
		}
		t.terms[i] = term
	}
	return nil
}

// AttachMaster opens the master of a restored terminal for its restored
// description: EINVAL if it is open already (a terminal has one master
// description; fds share it).
func (t *Terminal) AttachMaster() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.masterOpen {
		return fmt.Errorf("pty %d: a second master: %w", t.Index, unix.EINVAL)
	}
	t.masterOpen = true
	return nil
}

// AttachSlave opens a slave of a restored terminal for a restored
// description, whatever its lock (the description was opened while the
// slave was unlocked).
func (t *Terminal) AttachSlave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.slaves++
}

// Prune removes the terminals no restored description opened, after a
// restore, and returns their indexes.
func (t *Table) Prune() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []int
	for i, term := range t.terms {
		term.mu.Lock()
		unopened := !term.masterOpen && term.slaves == 0
		term.mu.Unlock()
		if unopened {
			delete(t.terms, i)
			gone = append(gone, i)
		}
	}
	return gone
}
