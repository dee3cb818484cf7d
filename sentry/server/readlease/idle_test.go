package readlease

import (
	"testing"
	"time"
)

// TestIdleLeases checks an idle lease's life: a change (its channel
// closed) found by PollIdle is revoked as the holder's own, once; the
// watcher revokes it too when no message comes (a kick); its expiry and
// the holder's Close end it without a revocation; a grant on a channel
// closed already fails.
func TestIdleLeases(t *testing.T) {
	cases := []struct {
		name string
		// end ends the lease of ch (its channel) and reports whether a
		// revocation is expected, and whether by a kick.
		end func(h *Holder, ch chan struct{}) (revoked, kicked bool)
		ttl time.Duration
	}{
		{"poll", func(h *Holder, ch chan struct{}) (bool, bool) {
			close(ch)
			h.PollIdle()
			return true, false
		}, time.Minute},
		{"watcher", func(h *Holder, ch chan struct{}) (bool, bool) {
			close(ch)
			return true, true
		}, time.Minute},
		{"expiry", func(h *Holder, ch chan struct{}) (bool, bool) {
			time.Sleep(50 * time.Millisecond)
			return false, false
		}, 10 * time.Millisecond},
		{"close", func(h *Holder, ch chan struct{}) (bool, bool) {
			h.Close()
			return false, false
		}, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Second)
			kicks := make(chan bool, 4)
			h := r.NewHolder(func(urgent bool) { kicks <- urgent })
			ch := make(chan struct{})
			id, epoch, ok := h.GrantIdle("ep", []<-chan struct{}{nil, ch}, tc.ttl)
			if !ok || id == 0 || epoch != 0 || h.IdleCount() != 1 {
				t.Fatalf("GrantIdle: id %d epoch %d ok %v, %d held", id, epoch, ok, h.IdleCount())
			}
			revoked, kicked := tc.end(h, ch)
			if kicked {
				select {
				case urgent := <-kicks:
					if urgent {
						t.Error("the watcher's kick is urgent: nothing waits for an own revocation")
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no kick from the watcher")
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for h.IdleCount() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if h.IdleCount() != 0 {
				t.Fatalf("%d idle leases held after the end, want 0", h.IdleCount())
			}
			taken, queued := h.Take()
			switch {
			case revoked && (!queued || len(taken.IDs) != 1 || taken.IDs[0] != id || !taken.Own || taken.Epoch != 1):
				t.Errorf("Take: %+v %v, want lease %d revoked once as the holder's own at epoch 1", taken, queued, id)
			case !revoked && queued:
				t.Errorf("Take: %+v, want no revocation", taken)
			}
			// Polled again (the next message): nothing more.
			h.PollIdle()
			if taken, queued := h.Take(); queued {
				t.Errorf("a second revocation: %+v", taken)
			}
		})
	}
}

// TestGrantIdleOnChangedChannel: a change between the check and the
// grant (a channel closed already) makes the grant fail.
func TestGrantIdleOnChangedChannel(t *testing.T) {
	h := New(time.Second).NewHolder(nil)
	ch := make(chan struct{})
	close(ch)
	if _, _, ok := h.GrantIdle("ep", []<-chan struct{}{ch}, time.Minute); ok || h.IdleCount() != 0 {
		t.Errorf("granted on a closed channel (ok %v, %d held)", ok, h.IdleCount())
	}
}

// TestGrantIdleReplaces: a new grant on the same instance revokes the
// one before (the client drops it before it takes the new grant, numbered
// at that revocation's epoch); another instance's stays.
func TestGrantIdleReplaces(t *testing.T) {
	h := New(time.Second).NewHolder(nil)
	ch := make(chan struct{})
	first, _, _ := h.GrantIdle("a", []<-chan struct{}{ch}, time.Minute)
	other, _, _ := h.GrantIdle("b", []<-chan struct{}{ch}, time.Minute)
	second, epoch, ok := h.GrantIdle("a", []<-chan struct{}{ch}, time.Minute)
	if !ok || second == first || h.IdleCount() != 2 {
		t.Fatalf("second grant on a: id %d (first %d) ok %v, %d held, want 2", second, first, ok, h.IdleCount())
	}
	taken, queued := h.Take()
	if !queued || len(taken.IDs) != 1 || taken.IDs[0] != first || !taken.Own || taken.Epoch != epoch {
		t.Errorf("after the second grant: %+v %v, want %d revoked as the holder's own at the new grant's epoch %d", taken, queued, first, epoch)
	}
	close(ch)
	h.PollIdle()
	taken, _ = h.Take()
	if len(taken.IDs) != 2 || (taken.IDs[0] != other && taken.IDs[0] != second) {
		t.Errorf("revoked %v at the change, want %d and %d", taken.IDs, other, second)
	}
}
