package pidfd

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/anon"
)

// Exit is a process's end as its pidfds see it: exited once the whole
// thread group is gone (a zombie), reaped once its id is freed.
type Exit struct {
	// exited and reaped are set once, by the kernel under its lock
	// (SetExited, SetReaped); read by Readiness without it.
	exited atomic.Bool
	reaped atomic.Bool
	// once closes done, which wakes the waits of Readiness, at the
	// first of SetExited and SetReaped.
	once sync.Once
	done chan struct{}
}

// NewExit returns the Exit of a process that runs.
func NewExit() *Exit { return &Exit{done: make(chan struct{})} }

// Gone returns the Exit of a process already reaped (a pidfd restored
// after its process was).
func Gone() *Exit {
	e := NewExit()
	e.SetReaped()
	return e
}

// SetExited says the process became a zombie.
func (e *Exit) SetExited() {
	e.exited.Store(true)
	e.once.Do(func() { close(e.done) })
}

// SetReaped says the process was reaped (its id is free).
func (e *Exit) SetReaped() {
	e.reaped.Store(true)
	e.SetExited()
}

// Exited reports whether the process exited (reaped or not).
func (e *Exit) Exited() bool { return e.exited.Load() }

// Reaped reports whether the process was reaped.
func (e *Exit) Reaped() bool { return e.reaped.Load() }

// File is a pidfd. Its fields are immutable.
type File struct {
	anon.Base
	// PID is the id of the process the pidfd refers to, Gen that
	// process's generation (the kernel's Process.Gen: an id may be
	// given to a later process), which its record keeps. Immutable.
	PID int32
	Gen uint64
	// Exit is that process's; the kernel finds the process by PID and
	// checks that its Exit is this one.
	Exit *Exit
}

// New returns a description of a new pidfd of process pid of generation
// gen, whose end is exit, with flags' O_NONBLOCK (PIDFD_NONBLOCK). As
// Linux's, it is opened O_RDWR.
func New(pid int32, gen uint64, exit *Exit, flags uint32) *fdesc.File {
	pf := &File{Base: anon.NewBase(0600), PID: pid, Gen: gen, Exit: exit}
	return fdesc.NewFile(pf, nil, nil, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// Readiness is Linux's pidfd_poll: readable once the process exited,
// and hung up too once it was reaped.
func (p *File) Readiness(*fdesc.File) (uint32, <-chan struct{}) {
	switch {
	case p.Exit.Reaped():
		return linux.POLLIN | linux.POLLRDNORM | linux.POLLHUP, nil
	case p.Exit.Exited():
		return linux.POLLIN | linux.POLLRDNORM, nil
	}
	// A zombie may still be reaped (POLLHUP), but a wait woken by the
	// exit asks again.
	return 0, p.Exit.done
}

// FDInfo is the pidfd's part of /proc/<pid>/fdinfo/<fd>: as Linux's
// pidfd_show_fdinfo, the process's id (-1 once reaped) in the caller's
// namespace and in each namespace down to its own (the sandbox has one).
func (p *File) FDInfo() []byte {
	pid := p.PID
	if p.Exit.Reaped() {
		pid = -1
	}
	return []byte(fmt.Sprintf("Pid:\t%d\nNSpid:\t%d\n", pid, pid))
}
