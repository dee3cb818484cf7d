package kobj

import (
	"sync"

	"gvisor.dev/gvisor/pkg/waiter"
)

// Watch follows a gVisor object's waiter.Queue and offers its
// notifications as channels: Changed returns a channel closed at the next
// notification. Taking the channel before checking readiness, then
// waiting on it, misses no wake-up.
type Watch struct {
	target waiter.Waitable
	entry  waiter.Entry

	// mu protects ch, the channel of the next notification (nil until
	// someone asks).
	mu sync.Mutex
	ch chan struct{}
}

// NewWatch registers for every event of target. Stop unregisters.
func NewWatch(target waiter.Waitable) *Watch {
	w := &Watch{target: target}
	w.entry = waiter.NewFunctionEntry(waiter.AllEvents|waiter.EventPri, func(waiter.EventMask) { w.notify() })
	if err := target.EventRegister(&w.entry); err != nil {
		// Only host-backed objects fail to register; ours never are.
		// The watch then never fires, which poll treats as "may not
		// change": the object's readiness is still checked each time.
		w.target = nil
	}
	return w
}

func (w *Watch) notify() {
	w.mu.Lock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
	w.mu.Unlock()
}

// Notify wakes the watch's waiters as the target's own notification
// does: for a change of readiness the target does not notify itself
// (inet's writes behind leaving the socket writable again).
func (w *Watch) Notify() { w.notify() }

// Changed returns a channel closed at the next notification of the
// target.
func (w *Watch) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

// Stop unregisters from the target and wakes waiters.
func (w *Watch) Stop() {
	if w.target != nil {
		w.target.EventUnregister(&w.entry)
	}
	w.notify()
}

// queueWaitable adapts a bare waiter.Queue (pkg/tcpip endpoints notify
// through one) to waiter.Waitable.
type queueWaitable struct{ q *waiter.Queue }

func (w queueWaitable) Readiness(waiter.EventMask) waiter.EventMask { return 0 }
func (w queueWaitable) EventRegister(e *waiter.Entry) error {
	w.q.EventRegister(e)
	return nil
}
func (w queueWaitable) EventUnregister(e *waiter.Entry) { w.q.EventUnregister(e) }

// NewQueueWatch follows a waiter.Queue.
func NewQueueWatch(q *waiter.Queue) *Watch { return NewWatch(queueWaitable{q}) }
