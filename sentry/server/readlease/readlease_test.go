package readlease

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// client is a fake client: it acknowledges what its holder queues, at
// once or never.
type client struct {
	h       *Holder
	ack     bool
	kicks   atomic.Int32
	revoked []uint64
}

func newClient(r *Registry, ack bool) *client {
	c := &client{ack: ack}
	c.h = r.NewHolder(func() {
		c.kicks.Add(1)
		if e, ids, ok := c.h.Take(); ok {
			c.revoked = append(c.revoked, ids...)
			if c.ack {
				go c.h.Acked(e)
			}
		}
	})
	return c
}

var k1 = Key{Dev: 1, Ino: 10}

func grant(t *testing.T, r *Registry, h *Holder, k Key, v Version) uint64 {
	t.Helper()
	id, _, _, ok := r.Grant(h, r.Begin(k), v)
	if !ok {
		t.Fatalf("grant on %v refused", k)
	}
	return id
}

func TestChangeRevokes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// own: the change is made by the holder's own client.
		own, ack bool
		// wantExpired: the change's wait ended by expiry.
		wantExpired int
	}{
		{name: "other client acks", ack: true},
		{name: "own client is not waited for", own: true},
		{name: "silent client waits for expiry", wantExpired: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(150 * time.Millisecond)
			c := newClient(r, tc.ack)
			id := grant(t, r, c.h, k1, Version{Size: 5})
			ctx := context.Background()
			if tc.own {
				ctx = WithHolder(ctx, c.h)
			}
			start := time.Now()
			if got := r.Changed(ctx, k1); got != tc.wantExpired {
				t.Errorf("Changed: %d waits expired, want %d", got, tc.wantExpired)
			}
			took := time.Since(start)
			if len(c.revoked) != 1 || c.revoked[0] != id {
				t.Errorf("revoked %v, want [%d]", c.revoked, id)
			}
			if tc.wantExpired == 0 && took > 100*time.Millisecond {
				t.Errorf("Changed took %v without waiting for an expiry", took)
			}
			if tc.wantExpired > 0 && took < 100*time.Millisecond {
				t.Errorf("Changed returned after %v, before the lease expired", took)
			}
			if _, ok := r.Live(c.h, k1); ok {
				t.Error("lease still held after the change")
			}
		})
	}
}

func TestGrantRacingChangeFails(t *testing.T) {
	r := New(time.Second)
	c := newClient(r, true)
	tk := r.Begin(k1)
	r.Changed(context.Background(), k1)
	if _, _, _, ok := r.Grant(c.h, tk, Version{}); ok {
		t.Fatal("a grant begun before a change was granted")
	}
	// Begun after: granted.
	grant(t, r, c.h, k1, Version{})
	if len(r.files) != 1 {
		t.Fatalf("%d entries, want 1", len(r.files))
	}
	r.Changed(context.Background(), k1)
	if len(r.files) != 0 {
		t.Errorf("%d entries left after the last lease went", len(r.files))
	}
}

func TestObservedVersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		seen    Version
		revoked bool
	}{
		{name: "same version", seen: Version{Size: 5, MtimeNs: 1, CtimeNs: 1}},
		{name: "new mtime", seen: Version{Size: 5, MtimeNs: 2, CtimeNs: 2}, revoked: true},
		{name: "new size", seen: Version{Size: 6, MtimeNs: 1, CtimeNs: 1}, revoked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Second)
			c := newClient(r, true)
			grant(t, r, c.h, k1, Version{Size: 5, MtimeNs: 1, CtimeNs: 1})
			r.Observed(context.Background(), k1, tc.seen)
			if got := len(c.revoked) > 0; got != tc.revoked {
				t.Errorf("revoked %v, want %v", got, tc.revoked)
			}
		})
	}
}

func TestEpochsAndAcks(t *testing.T) {
	r := New(time.Second)
	h := r.NewHolder(nil)
	grant(t, r, h, k1, Version{})
	k2 := Key{Dev: 1, Ino: 11}
	grant(t, r, h, k2, Version{})
	// Nobody takes the revocations: the changes must not wait (their
	// context is already done), and Take merges them.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Changed(ctx, k1)
	r.Changed(ctx, k2)
	e, ids, ok := h.Take()
	if !ok || e != 2 || len(ids) != 2 {
		t.Fatalf("Take = %d %v %v, want epoch 2 with 2 ids", e, ids, ok)
	}
	h.Acked(5) // ahead of what was decided: ignored
	if h.acked != 0 {
		t.Errorf("acked %d after an acknowledgment ahead of the epoch", h.acked)
	}
	h.Acked(2)
	if h.acked != 2 {
		t.Errorf("acked %d, want 2", h.acked)
	}
}

func TestSilentHolderDisabled(t *testing.T) {
	r := New(20 * time.Millisecond)
	c := newClient(r, false)
	for i := 0; i < maxUnacked; i++ {
		grant(t, r, c.h, k1, Version{})
		r.Changed(context.Background(), k1)
	}
	if _, _, _, ok := r.Grant(c.h, r.Begin(k1), Version{}); ok {
		t.Error("a client that never acknowledged is still granted leases")
	}
	if len(r.files) != 0 {
		t.Errorf("%d entries left after a refused grant", len(r.files))
	}
}

func TestExpiredLeaseNotWaitedFor(t *testing.T) {
	now := time.Now()
	r := New(time.Second)
	r.SetClock(func() time.Time { return now })
	c := newClient(r, false)
	grant(t, r, c.h, k1, Version{})
	now = now.Add(2 * time.Second)
	if got := r.Changed(context.Background(), k1); got != 0 || len(c.revoked) != 0 {
		t.Errorf("an expired lease was revoked (%v) or waited for (%d)", c.revoked, got)
	}
}

func TestClose(t *testing.T) {
	r := New(time.Second)
	c := newClient(r, false)
	grant(t, r, c.h, k1, Version{})
	c.h.Close()
	if got := r.Changed(context.Background(), k1); got != 0 {
		t.Errorf("a closed holder was waited for")
	}
	if _, _, _, ok := r.Grant(c.h, r.Begin(k1), Version{}); ok {
		t.Error("a closed holder was granted a lease")
	}
}

func TestPauseGrants(t *testing.T) {
	now := time.Now()
	r := New(time.Second)
	r.SetClock(func() time.Time { return now })
	h := r.NewHolder(nil)
	h.PauseGrants(time.Second)
	if !h.Disabled() {
		t.Error("grants not paused")
	}
	now = now.Add(2 * time.Second)
	if h.Disabled() {
		t.Error("grants still paused after the pause")
	}
}

// TestNamespaceLease checks the path leases' key: a change of any file
// revokes it, a change while a grant is being made fails the grant, and a
// client asking again soon gets the lease it holds, not another.
func TestNamespaceLease(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// between runs between Begin and GrantShared; after, after the
		// grant.
		between, after func(r *Registry)
		wantGranted    bool
		wantRevoked    bool
	}{
		{name: "no change", wantGranted: true},
		{name: "a file's change revokes it", after: func(r *Registry) { r.Changed(ctx, k1) }, wantGranted: true, wantRevoked: true},
		{name: "an unknown change revokes it", after: func(r *Registry) { r.ChangedAll(ctx) }, wantGranted: true, wantRevoked: true},
		{name: "a names change revokes it", after: func(r *Registry) { r.Changed(ctx, Namespace) }, wantGranted: true, wantRevoked: true},
		{name: "a change during the walk fails the grant", between: func(r *Registry) { r.Changed(ctx, k1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			c := newClient(r, true)
			tk := r.Begin(Namespace)
			if tc.between != nil {
				tc.between(r)
			}
			id, _, left, ok := r.GrantShared(c.h, tk)
			if ok != tc.wantGranted {
				t.Fatalf("granted %v, want %v", ok, tc.wantGranted)
			}
			if !ok {
				return
			}
			if left <= 0 || left > time.Minute {
				t.Errorf("lease has %v left, want up to a minute", left)
			}
			if tc.after != nil {
				tc.after(r)
			}
			if revoked := len(c.revoked) == 1 && c.revoked[0] == id; revoked != tc.wantRevoked {
				t.Errorf("revoked %v, want lease %d revoked: %v", c.revoked, id, tc.wantRevoked)
			}
			again, _, _, ok := r.GrantShared(c.h, r.Begin(Namespace))
			if !ok {
				t.Fatal("second grant refused")
			}
			if shared := again == id; shared == tc.wantRevoked {
				t.Errorf("second grant is lease %d, first %d: shared %v after revocation %v", again, id, shared, tc.wantRevoked)
			}
		})
	}
}
