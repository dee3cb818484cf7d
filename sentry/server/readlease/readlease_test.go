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
	c.h = r.NewHolder(func(bool) {
		c.kicks.Add(1)
		if t, ok := c.h.Take(); ok {
			c.revoked = append(c.revoked, t.IDs...)
			if c.ack {
				go c.h.Acked(t.Epoch)
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
	tk, ok := h.Take()
	if e, ids := tk.Epoch, tk.IDs; !ok || e != 2 || len(ids) != 2 {
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

// TestPathLeases checks the path leases' keys: what revokes each kind,
// that a change while a grant is being made fails it if it revokes one
// of its keys, and that a client
// asking again soon gets the lease it holds on a key, not another.
func TestPathLeases(t *testing.T) {
	ctx := context.Background()
	const dir, file, other = 20, 21, 22
	// The answer of stat("dir/file"): it crossed dir, found file and
	// shows file's attributes; a negative answer failed a lookup in dir.
	positive := []Key{PathKey(PathSearch, dir), PathKey(PathSearch, file), PathKey(PathAttrs, file)}
	negative := []Key{PathKey(PathSearch, dir), PathKey(PathNames, dir)}
	tests := []struct {
		name string
		keys []Key
		// between runs between BeginPath and GrantPath; after, after
		// the grant.
		between, after func(r *Registry)
		wantGranted    bool
		wantRevoked    bool
	}{
		{name: "no change", keys: positive, wantGranted: true},
		{name: "a change of the file found", keys: positive, after: func(r *Registry) { r.Changed(ctx, Key{Dev: 1, Ino: file}) }, wantGranted: true, wantRevoked: true},
		{name: "a change of a directory crossed", keys: positive, after: func(r *Registry) { r.Changed(ctx, Key{Dev: 1, Ino: dir}) }, wantGranted: true, wantRevoked: true},
		{name: "a name made in a directory crossed keeps it", keys: positive, after: func(r *Registry) { r.DirChanged(ctx, dir) }, wantGranted: true},
		{name: "a name made in the file found revokes its attributes", keys: positive, after: func(r *Registry) { r.DirChanged(ctx, file) }, wantGranted: true, wantRevoked: true},
		{name: "a name made where one was missing", keys: negative, after: func(r *Registry) { r.DirChanged(ctx, dir) }, wantGranted: true, wantRevoked: true},
		{name: "another file's change keeps it", keys: positive, after: func(r *Registry) { r.Changed(ctx, Key{Dev: 1, Ino: other}) }, wantGranted: true},
		{name: "a name made elsewhere keeps a negative", keys: negative, after: func(r *Registry) { r.DirChanged(ctx, other) }, wantGranted: true},
		{name: "an unknown change", keys: positive, after: func(r *Registry) { r.ChangedAll(ctx) }, wantGranted: true, wantRevoked: true},
		{name: "a mount", keys: negative, after: func(r *Registry) { r.ChangedPaths(ctx) }, wantGranted: true, wantRevoked: true},
		{name: "a change of the file found during the walk fails the grant", keys: positive, between: func(r *Registry) { r.Changed(ctx, Key{Dev: 1, Ino: file}) }},
		{name: "another file's change during the walk keeps it", keys: positive, between: func(r *Registry) { r.Changed(ctx, Key{Dev: 1, Ino: other}) }, wantGranted: true},
		{name: "no keys, no grant", between: func(r *Registry) {}},
	}
	// A change made during the walk fails the grant exactly when, made
	// after it, it revokes the lease (pathchanges.go): each after case
	// again, between.
	for _, tc := range tests {
		if tc.after == nil {
			continue
		}
		t.Run(tc.name+", during the walk", func(t *testing.T) {
			r := New(time.Minute)
			c := newClient(r, true)
			tk := r.BeginPath()
			tc.after(r)
			if _, _, _, ok := r.GrantPath(c.h, tk, tc.keys); ok != !tc.wantRevoked {
				t.Fatalf("granted %v, want %v", ok, !tc.wantRevoked)
			}
		})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			c := newClient(r, true)
			tk := r.BeginPath()
			if tc.between != nil {
				tc.between(r)
			}
			ids, _, left, ok := r.GrantPath(c.h, tk, tc.keys)
			if ok != tc.wantGranted {
				t.Fatalf("granted %v, want %v", ok, tc.wantGranted)
			}
			if !ok {
				return
			}
			if len(ids) != len(tc.keys) || left <= 0 || left > time.Minute {
				t.Fatalf("ids %v with %v left, want %d ids and up to a minute", ids, left, len(tc.keys))
			}
			if tc.after != nil {
				tc.after(r)
			}
			revoked := false
			for _, id := range c.revoked {
				for _, mine := range ids {
					revoked = revoked || id == mine
				}
			}
			if revoked != tc.wantRevoked {
				t.Errorf("revoked %v of %v, want revoked: %v", c.revoked, ids, tc.wantRevoked)
			}
			again, _, _, ok := r.GrantPath(c.h, r.BeginPath(), tc.keys)
			if !ok {
				t.Fatal("second grant refused")
			}
			shared := 0
			for i := range ids {
				if again[i] == ids[i] {
					shared++
				}
			}
			if !tc.wantRevoked && shared != len(ids) {
				t.Errorf("second grant %v, first %v: want the same leases", again, ids)
			}
			if tc.wantRevoked && shared == len(ids) {
				t.Errorf("second grant %v is the revoked %v", again, ids)
			}
		})
	}
}
