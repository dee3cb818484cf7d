package kernel

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Deferred collects what a function holding the kernel lock must do
// after releasing it: pushes to send and cleanups (file releases, gofer
// calls) that may block. The zero value is empty and ready.
type Deferred struct {
	first  []func()
	pushes []*sentrypb.Push
	fns    []func()
}

// Before queues fn, called by Run before the pushes: what Linux does
// before the notifications a push carries (an exiting process's files
// are closed before its parent's SIGCHLD).
func (d *Deferred) Before(fns ...func()) { d.first = append(d.first, fns...) }

// Push queues p, sent by Run.
func (d *Deferred) Push(p *sentrypb.Push) { d.pushes = append(d.pushes, p) }

// Do queues fn, called by Run after the pushes.
func (d *Deferred) Do(fns ...func()) { d.fns = append(d.fns, fns...) }

// DropPushes forgets the queued pushes (a client being torn down has
// no stream to send them on); the queued functions stay.
func (d *Deferred) DropPushes() { d.pushes = nil }

// Pushes returns the queued pushes, for tests and for callers that
// inspect what a change decided.
func (d *Deferred) Pushes() []*sentrypb.Push { return d.pushes }

// Run calls the functions queued with Before, sends the pushes on s, in
// the order queued, then calls the other functions, and leaves d empty.
// The kernel lock must not be held.
func (d *Deferred) Run(s Sender) {
	for _, f := range d.first {
		f()
	}
	for _, p := range d.pushes {
		s.Push(p)
	}
	for _, f := range d.fns {
		f()
	}
	d.first, d.pushes, d.fns = nil, nil, nil
}
