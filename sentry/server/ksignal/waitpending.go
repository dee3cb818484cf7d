package ksignal

import "sync"

// WaitPending is the client's set of a thread's pending signals, as its
// current wait call (a signalfd's read or readiness, sigtimedwait) sees
// them: the client sends it with the call and in SignalsPending messages,
// which may come before their call.
type WaitPending struct {
	// mu protects the fields below. A leaf.
	mu sync.Mutex
	// gen is the client's number of the call the set belongs to.
	gen uint64
	// pending is the set (bit sig-1 for signal sig).
	pending uint64
	// wake is closed when pending grows.
	wake chan struct{}
}

// Update folds in the pending set of call gen: a newer call replaces the
// set, an older one is ignored; a set that grew wakes the waiters.
func (w *WaitPending) Update(gen, pending uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case gen < w.gen:
		return
	case gen > w.gen:
		w.gen, w.pending = gen, pending
		if w.wake != nil {
			close(w.wake)
		}
		w.wake = make(chan struct{})
	case pending&^w.pending != 0:
		w.pending |= pending
		close(w.wake)
		w.wake = make(chan struct{})
	}
}

// Get returns the set and a channel closed when it grows.
func (w *WaitPending) Get() (uint64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wake == nil {
		w.wake = make(chan struct{})
	}
	return w.pending, w.wake
}
