package stdio

import (
	"sync"
	"sync/atomic"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/wake"
)

// MaxWant bounds one StdinWant.
const MaxWant = 1 << 20

// maxBuffered bounds a Stdin's buffer: data past it is dropped.
const maxBuffered = 16 * MaxWant

// MaxUnread bounds Restore.stdin_unread: the buffer's bound plus the
// answers to one more StdinWant.
const MaxUnread = maxBuffered + MaxWant

// Sizes of a terminal's struct termios and struct winsize (amd64).
const (
	SizeofTermios = 36
	SizeofWinsize = 8
)

// Stdin is a stdio set's input as the server buffers it.
//
// For recovery the client numbers its stdin stream (StdinData.offset) and
// retains what it sent until the application's reads of it are reported
// (StdinState.read, committed with the reply of the read that consumed
// the bytes, like a pipe's read count); a restored server gets the rest
// back in Restore.stdin_unread and drops the duplicates of StdinData
// re-sent after it.
type Stdin struct {
	// mu protects the fields below; it nests inside the kernel lock.
	mu   sync.Mutex
	buf  []byte
	eof  bool
	want bool // a StdinWant is outstanding
	// received is the stream position just past buf's last byte.
	received uint64
	// readC counts the bytes read by calls whose replies were built.
	readC uint64
	// changed is notified when data or EOF arrives.
	changed wake.Notifier
}

// CommitRead counts n bytes read by a call whose reply is being built
// and returns the stream's read count to report.
func (st *Stdin) CommitRead(n uint64) uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.readC += n
	return st.readC
}

// Restore sets the stream position to read and buffers unread (a
// Restore).
func (st *Stdin) Restore(read uint64, unread []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.readC = read
	st.buf = append([]byte(nil), unread...)
	st.received = read + uint64(len(unread))
	st.eof, st.want = false, false
	st.changed.Notify()
}

// Read takes up to n buffered bytes. With none buffered it returns eof
// once after an EOF answer (a zero-byte read); otherwise ch, closed when
// data or EOF arrives, and ask: no StdinWant is outstanding, the caller
// must send one.
func (st *Stdin) Read(n int) (data []byte, eof bool, ch <-chan struct{}, ask bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.buf) > 0 {
		m := min(n, len(st.buf))
		data = append([]byte(nil), st.buf[:m]...)
		st.buf = st.buf[m:]
		return data, false, nil, false
	}
	if st.eof {
		st.eof = false
		return nil, true, nil, false
	}
	ask = !st.want
	st.want = true
	return nil, false, st.changed.Wait(), ask
}

// Readiness reports whether a read would not block; if it would, ch is
// closed when that may change and ask says the caller must send a
// StdinWant.
func (st *Stdin) Readiness() (ready bool, ch <-chan struct{}, ask bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.buf) > 0 || st.eof {
		return true, nil, false
	}
	ask = !st.want
	st.want = true
	return false, st.changed.Wait(), ask
}

// Data records the client's answer to StdinWant: data starts at stream
// position offset (what a Restore already buffered is skipped). It
// returns the stream position it expected when data starts past it
// (gap: bytes were lost) and how many bytes it dropped because the
// buffer was full, for the caller to log.
func (st *Stdin) Data(offset uint64, data []byte, eof bool) (gap bool, expected uint64, dropped int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case offset < st.received:
		// Restore.stdin_unread had (some of) it already.
		skip := min(uint64(len(data)), st.received-offset)
		data, offset = data[skip:], offset+skip
	case offset > st.received:
		gap, expected = true, st.received
	}
	if len(st.buf)+len(data) > maxBuffered {
		dropped = len(data)
	} else if len(data) > 0 {
		st.buf = append(st.buf, data...)
		st.received = offset + uint64(len(data))
	}
	if eof {
		// Buffered data is read first; then one read returns 0.
		st.eof = true
	}
	st.want = false
	st.changed.Notify()
	return gap, expected, dropped
}

// Buffered is how many bytes a read would get now (FIONREAD).
func (st *Stdin) Buffered() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.buf)
}

// TTY is the terminal a stdio set is connected to, if any. Protected by
// the kernel lock.
type TTY struct {
	Present bool
	// Termios and Winsize are the terminal's struct termios and struct
	// winsize (SizeofTermios and SizeofWinsize bytes).
	Termios []byte
	Winsize []byte
	// FgPgrp is the foreground process group.
	FgPgrp int32
	// Sid is the session whose controlling terminal this is, for a
	// spawned process's set (set 0's is the first process's).
	Sid int32
}

// Init sets the terminal up from the first of a set's streams that is
// one (none: no terminal); its foreground group is the first process's.
func (t *TTY) Init(stdio [3]*sentrypb.StdioInfo) {
	for _, si := range stdio {
		if si != nil && si.IsTty {
			t.Present = true
			t.Termios = FixedLen(si.Termios, SizeofTermios)
			t.Winsize = FixedLen(si.Winsize, SizeofWinsize)
			t.FgPgrp = 1
			return
		}
	}
}

// FixedLen returns b cut or zero-padded to n bytes.
func FixedLen(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

// Set is a spawned process's stdio set (the OCI runtime's exec: Spawn).
type Set struct {
	// ID is the set's number (never 0: the client's own). Immutable.
	ID uint32
	// Info describes fds 0-2 (Spawn.stdio). Immutable.
	Info [3]*sentrypb.StdioInfo
	// Stdin buffers the set's input; it has its own lock.
	Stdin Stdin
	// TTY is the set's terminal, if any. Protected by the kernel lock.
	TTY TTY
	// Files counts the open file descriptions of the set's streams
	// (made and released by the kernel's stdio file, under any lock);
	// when the last goes, the client is told it may close the streams
	// (StdioSetClosed), so that a spawned process's children keep its
	// stdio after it exits. Atomic.
	Files atomic.Int32
	// Inos are its streams' inode numbers.
	Inos Inodes
}

// Inodes are a stdio set's three streams' inode numbers, each drawn
// from next (the pipes' numbering: a stream stands for a pipe) when
// first asked and kept, so that a stream's number is stable and no
// pipe's. Atomic.
type Inodes [3]atomic.Uint64

// Of returns stream fd's (0-2) number.
func (in *Inodes) Of(fd int32, next func() uint64) uint64 {
	if v := in[fd].Load(); v != 0 {
		return v
	}
	if v := next(); in[fd].CompareAndSwap(0, v) {
		return v
	}
	return in[fd].Load()
}

// IsTTY reports whether the set's fd (0-2) is a terminal.
func (s *Set) IsTTY(fd int32) bool { return s.Info[fd] != nil && s.Info[fd].IsTty }
