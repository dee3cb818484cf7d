package kernel

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/stdio"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pipe"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Synthetic device numbers: pipes' (and the stdio streams' that stand
// for pipes), a terminal's.
const (
	pipeDev  = 0x0c
	stdioDev = 0x0d
)

// StdioFile is one of the client's stdin/stdout/stderr: writes become
// StdioOutput pushes, reads ask the client for stdin data.
type StdioFile struct {
	k *Kernel
	// stream is 0, 1 or 2: the client's fd this description stands for.
	Fd  int32
	Tty bool
	// set is the stdio set (0: the client's own; else a spawned
	// process's, spawn.go); in and term are its stdin buffer and terminal
	// state. Immutable.
	Set  uint32
	In   *stdio.Stdin
	Term *stdio.TTY
	// owner is the stdio set (nil for set 0), whose files count this
	// description. Immutable.
	owner *stdio.Set
	// inos numbers the set's streams. Immutable.
	inos *stdio.Inodes
}

func (k *Kernel) NewStdioFile(stream int32) *fdesc.File {
	tty := k.Stdio[stream] != nil && k.Stdio[stream].IsTty
	return k.NewStdioFileOf(stream, 0, nil, tty, &k.Stdin, &k.TTY)
}

func (k *Kernel) NewStdioFileOf(stream int32, set uint32, owner *stdio.Set, tty bool, in *stdio.Stdin, term *stdio.TTY) *fdesc.File {
	flags := uint32(unix.O_WRONLY)
	if stream == 0 {
		flags = unix.O_RDONLY
	}
	if tty {
		// A terminal is always a description open made: a large-file
		// one (sysabi.OpenFlags). What else a stream is (a pipe's end,
		// or a file a shell opened) is not known here; a pipe's flags.
		flags = unix.O_RDWR | linux.O_LARGEFILE
	}
	s := &StdioFile{k: k, Fd: stream, Tty: tty, Set: set, In: in, Term: term, inos: &k.StdioInos}
	if owner != nil {
		s.inos = &owner.Inos
	}
	s.countIn(owner)
	return vfs.NewFile(s, nil, flags)
}

// Reopen returns another description of the same stream (open of
// /proc/<pid>/fd/N).
func (s *StdioFile) Reopen() fdesc.FileImpl {
	n := &StdioFile{k: s.k, Fd: s.Fd, Tty: s.Tty, Set: s.Set, In: s.In, Term: s.Term, inos: s.inos}
	n.countIn(s.owner)
	return n
}

// countIn makes s one of owner's files (nil: set 0, not counted).
func (s *StdioFile) countIn(owner *stdio.Set) {
	if owner != nil {
		s.owner = owner
		owner.Files.Add(1)
	}
}

// release tells the client once the last file of a spawned process's
// stdio set is gone. The push goes from a goroutine: release runs
// under Kernel.Mu, which is taken after sendMu.
func (s *StdioFile) Release() {
	if s.owner == nil || s.owner.Files.Add(-1) != 0 {
		return
	}
	id := s.Set
	go s.k.Out.Push(&sentrypb.Push{Msg: &sentrypb.Push_StdioSetClosed{StdioSetClosed: &sentrypb.StdioSetClosed{StdioSet: id}}})
}

func (s *StdioFile) Stream() bool { return true }

func (s *StdioFile) Write(c fdesc.Call, _ *fdesc.File, b []byte, _ int64) (int, error) {
	if s.Tty && c != nil && s.k.ttyStopsWrites(s.Term) {
		if err := s.k.ttyJobControl(c, s, int(unix.SIGTTOU)); err != nil {
			return 0, err
		}
	}
	out := s.Fd
	if out == 0 {
		out = 1 // a terminal on stdin is written through stdout
	}
	// The push is sent before the call's reply: the client sees output in
	// order with the write's completion.
	var seq uint64
	if c != nil {
		seq = c.Seq()
	}
	s.k.Out.Push(&sentrypb.Push{Msg: &sentrypb.Push_Output{Output: &sentrypb.StdioOutput{Fd: out, Data: append([]byte(nil), b...), Seq: seq, StdioSet: s.Set}}})
	return len(b), nil
}

func (s *StdioFile) Read(c fdesc.Call, f *fdesc.File, n int, _ int64) ([]byte, error) {
	if s.Tty && c != nil {
		if err := s.k.ttyJobControl(c, s, int(unix.SIGTTIN)); err != nil {
			return nil, err
		}
	}
	return s.k.readStdin(c, s.Set, s.In, n, f.Nonblock())
}

func (s *StdioFile) Stat(fdesc.Call) (*goferpb.Stat, error) {
	now := time.Now().UnixNano()
	// A stream that is not a terminal is a pipe's end as the
	// application sees it: a pipe's device, and a number no pipe has.
	mode, dev := uint32(unix.S_IFIFO|0600), uint64(pipeDev)
	if s.Tty {
		mode, dev = unix.S_IFCHR|0620, stdioDev
	}
	st := &goferpb.Stat{Mode: mode, Nlink: 1, Ino: s.inos.Of(s.Fd, pipe.NewIno), Dev: dev, Blksize: 4096,
		AtimeNs: now, MtimeNs: now, CtimeNs: now}
	if s.Tty {
		st.Rdev = 136 << 8 // /dev/pts/0: major 136, minor 0
	}
	return st, nil
}

func (s *StdioFile) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	if s.Fd != 0 && !s.Tty {
		return linux.POLLOUT | linux.POLLWRNORM, nil
	}
	ev, ch := s.k.stdinReadiness(s.Set, s.In)
	if s.Tty {
		ev |= linux.POLLOUT | linux.POLLWRNORM
	}
	return ev, ch
}

// stdio.Stdin buffers data the client sent for the application's stdin.
//
// readStdin returns up to n bytes of stdin, asking the client for more
// (StdinWant) and blocking until it answers. An EOF answer is returned
// once, as a zero-byte read.
func (k *Kernel) readStdin(c fdesc.Call, set uint32, st *stdio.Stdin, n int, nonblock bool) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	n = min(n, stdio.MaxWant)
	for {
		out, eof, ch, ask := st.Read(n)
		if len(out) > 0 {
			eff := TaskFromCall(c).Effects()
			eff.StdinRead += uint64(len(out))
			eff.StdinSet, eff.StdinOf = set, st
			return out, nil
		}
		if eof {
			return nil, nil
		}
		if ask {
			k.Out.Push(&sentrypb.Push{Msg: &sentrypb.Push_StdinWant{StdinWant: &sentrypb.StdinWant{Max: uint32(n), StdioSet: set}}})
		}
		if nonblock {
			return nil, unix.EAGAIN
		}
		if err := c.Block(ch, nil); err != nil {
			return nil, err
		}
	}
}

// stdinReadiness reports whether stdin can be read without blocking,
// asking the client for data if none is buffered.
func (k *Kernel) stdinReadiness(set uint32, st *stdio.Stdin) (uint32, <-chan struct{}) {
	ready, ch, ask := st.Readiness()
	if ready {
		return linux.POLLIN | linux.POLLRDNORM, nil
	}
	if ask {
		// Pushed from another goroutine: readiness is asked with the
		// poller's locks held (an epoll's mu), and a push collects the
		// client's state, which takes them again.
		go k.Out.Push(&sentrypb.Push{Msg: &sentrypb.Push_StdinWant{StdinWant: &sentrypb.StdinWant{Max: 4096, StdioSet: set}}})
	}
	return 0, ch
}

// StdinData records the client's answer to StdinWant: data starts at
// stream position offset.
func (k *Kernel) StdinData(set uint32, offset uint64, data []byte, eof bool) {
	st := k.stdinOf(set)
	if st == nil {
		k.Log.Warn("stdin data for an unknown stdio set", "set", set)
		return
	}
	gap, expected, dropped := st.Data(offset, data, eof)
	if gap {
		k.Log.Warn("stdin data skips bytes", "offset", offset, "expected", expected)
	}
	if dropped > 0 {
		k.Log.Warn("stdin buffer full; dropping data", "bytes", dropped)
	}
}

// TtyResize records the terminal's new window size and sends SIGWINCH to
// the foreground process group.
func (k *Kernel) TtyResize(m *sentrypb.TtyResize) error {
	if m == nil || len(m.Winsize) != stdio.SizeofWinsize {
		return unix.EINVAL
	}
	var d Deferred
	k.Mu.Lock()
	tty := &k.TTY
	if m.StdioSet != 0 {
		set := k.StdioSets[m.StdioSet]
		if set == nil {
			k.Mu.Unlock()
			return unix.ENOTTY
		}
		tty = &set.TTY
	}
	if !tty.Present {
		k.Mu.Unlock()
		return unix.ENOTTY
	}
	tty.Winsize = stdio.FixedLen(m.Winsize, stdio.SizeofWinsize)
	info := ksignal.SiginfoKill(int(unix.SIGWINCH), ksignal.SIKernel, 0, 0)
	for _, p := range k.ProcessGroupLocked(tty.FgPgrp) {
		k.SignalProcessLocked(p, nil, int(unix.SIGWINCH), info, &d)
	}
	k.Mu.Unlock()
	d.Run(k.Out)
	return nil
}

// stdinOf returns the stdin buffer of stdio set id, or nil.
func (k *Kernel) stdinOf(id uint32) *stdio.Stdin {
	if id == 0 {
		return &k.Stdin
	}
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if s := k.StdioSets[id]; s != nil {
		return &s.Stdin
	}
	return nil
}

// maxStdioSets bounds the stdio sets of one client (one per spawned
// process, kept while the client lives).
const maxStdioSets = 4096

// StdioSetLocked returns set id, making it from infos if it does not
// exist yet.
//
// Preconditions: k.Mu is locked.
func (k *Kernel) StdioSetLocked(id uint32, infos []*sentrypb.StdioInfo) (*stdio.Set, error) {
	if id == 0 {
		return nil, fmt.Errorf("stdio set 0 is the client's own: %w", unix.EINVAL)
	}
	if s := k.StdioSets[id]; s != nil {
		return s, nil
	}
	if len(k.StdioSets) >= maxStdioSets {
		return nil, fmt.Errorf("%d stdio sets: %w", len(k.StdioSets), unix.EAGAIN)
	}
	s := &stdio.Set{ID: id}
	for _, si := range infos {
		if si != nil && si.Fd >= 0 && si.Fd < 3 {
			s.Info[si.Fd] = si
		}
	}
	s.TTY.Init(s.Info)
	if k.StdioSets == nil {
		k.StdioSets = make(map[uint32]*stdio.Set)
	}
	k.StdioSets[id] = s
	return s, nil
}
