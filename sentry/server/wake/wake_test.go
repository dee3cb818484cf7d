package wake

import (
	"testing"
	"time"
)

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

func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, closeN int // channels, and which to close (-1: none)
		stop      bool
		want      bool
	}{
		{name: "first", n: 3, closeN: 0, want: true},
		{name: "last", n: 3, closeN: 2, want: true},
		{name: "none", n: 2, closeN: -1},
		{name: "stopped", n: 2, closeN: -1, stop: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chs := make([]chan struct{}, tc.n)
			ro := make([]<-chan struct{}, tc.n)
			for i := range chs {
				chs[i] = make(chan struct{})
				ro[i] = chs[i]
			}
			stop := make(chan struct{})
			m := Merge(ro, stop)
			if tc.stop {
				close(stop)
			}
			if tc.closeN >= 0 {
				close(chs[tc.closeN])
			}
			var got bool
			select {
			case <-m:
				got = true
			case <-time.After(50 * time.Millisecond):
			}
			if got != tc.want {
				t.Errorf("merged closed: %v, want %v", got, tc.want)
			}
		})
	}
}
