package kernel

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Deferred collects what a function holding the kernel lock must do
// after releasing it: pushes to send and cleanups (file releases, gofer
// calls) that may block. The zero value is empty and ready.
type Deferred struct {
	pushes []*sentrypb.Push
	fns    []func()
}

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

// Run sends the pushes on s, in the order queued, then calls the
// functions, and leaves d empty. The kernel lock must not be held.
func (d *Deferred) Run(s Sender) {
	for _, p := range d.pushes {
		s.Push(p)
	}
	for _, f := range d.fns {
		f()
	}
	d.pushes, d.fns = nil, nil
}
