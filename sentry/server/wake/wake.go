// Package wake is the broadcast that the server's blocking calls wait on:
// a waiter takes a channel (Notifier.Wait) under the lock of the object
// it waits for, releases the lock and blocks on the channel; a change
// closes it (Notifier.Notify), waking every waiter, who looks again.
//
// Merge turns several such channels into one (a poll, an epoll's
// interests).
//
// What it owns: nothing but the channel of each Notifier, and Merge's
// goroutines, which end with their channels or the stop channel.
//
// Dependencies: none. Every layer of the server may import it.
//
// It must not import another package of the server: it is a leaf.
//
// Lock order: a Notifier has no lock of its own; it is protected by its
// owner's lock, which both Wait and Notify are called under.
package wake

import "sync"

// Notifier is a broadcast of "may have changed". The zero value is ready
// to use; it is protected by its owner's lock.
type Notifier struct{ ch chan struct{} }

// Wait returns a channel closed at the next Notify.
func (n *Notifier) Wait() <-chan struct{} {
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Notify wakes the waiters of the channels Wait returned.
func (n *Notifier) Notify() {
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// Merge returns a channel closed when any of chs is closed; once stop
// is closed (nil: never) the goroutines watching chs end and it may
// never be.
func Merge(chs []<-chan struct{}, stop <-chan struct{}) <-chan struct{} {
	merged := make(chan struct{})
	var once sync.Once
	for _, ch := range chs {
		go func(ch <-chan struct{}) {
			select {
			case <-ch:
				once.Do(func() { close(merged) })
			case <-merged:
			case <-stop:
			}
		}(ch)
	}
	return merged
}
