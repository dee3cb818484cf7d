package wake

import "testing"

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestNotifier: Notify wakes every channel Wait gave out before it and
// none given out after it; a Notify with no waiter is lost.
func TestNotifier(t *testing.T) {
	var n Notifier
	n.Notify()
	a, b := n.Wait(), n.Wait()
	if closed(a) || closed(b) {
		t.Fatal("a channel is closed before any Notify after Wait")
	}
	n.Notify()
	if !closed(a) || !closed(b) {
		t.Fatal("Notify left a waiter's channel open")
	}
	c := n.Wait()
	if closed(c) {
		t.Fatal("a channel taken after Notify is already closed")
	}
	n.Notify()
	if !closed(c) {
		t.Fatal("the second Notify left its waiter's channel open")
	}
}
