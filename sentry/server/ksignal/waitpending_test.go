package ksignal

import "testing"

// TestWaitPendingUpdate checks how a wait call's pending set and the
// SignalsPending messages for it combine, in either order.
func TestWaitPendingUpdate(t *testing.T) {
	type upd struct{ gen, pending uint64 }
	for _, tc := range []struct {
		name     string
		updates  []upd
		want     uint64
		wantWake bool // the last update woke a waiter of the one before
	}{
		{name: "call alone", updates: []upd{{1, 0b10}}, want: 0b10, wantWake: true},
		{name: "grows during the call", updates: []upd{{1, 0b10}, {1, 0b110}}, want: 0b110, wantWake: true},
		{name: "no new bit", updates: []upd{{1, 0b110}, {1, 0b10}}, want: 0b110, wantWake: false},
		{name: "message before its call", updates: []upd{{2, 0b100}, {2, 0b1}}, want: 0b101, wantWake: true},
		{name: "next call replaces", updates: []upd{{1, 0b110}, {2, 0b1}}, want: 0b1, wantWake: true},
		{name: "stale message ignored", updates: []upd{{3, 0b1}, {2, 0b1000}}, want: 0b1, wantWake: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w WaitPending
			var wake <-chan struct{}
			for _, u := range tc.updates {
				_, wake = w.Get()
				w.Update(u.gen, u.pending)
			}
			got, _ := w.Get()
			if got != tc.want {
				t.Errorf("pending %#b, want %#b", got, tc.want)
			}
			woken := false
			select {
			case <-wake:
				woken = true
			default:
			}
			if woken != tc.wantWake {
				t.Errorf("woken %v, want %v", woken, tc.wantWake)
			}
		})
	}
}
