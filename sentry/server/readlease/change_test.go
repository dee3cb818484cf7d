package readlease

import (
	"context"
	"testing"
	"time"
)

// TestBeginChange checks a change announced before it is made: the
// leases on the inode (read and path) are revoked at once, BeginChange
// returns only after the holder acknowledged (or its leases expired);
// the caller's own client is not waited for, and its leases stay until
// the change's Changed; no lease on the inode is granted until the
// change ends, while other inodes' still are.
func TestBeginChange(t *testing.T) {
	const ino = 10
	inode := Key{Dev: 1, Ino: ino}
	other := Key{Dev: 1, Ino: 11}
	tests := []struct {
		name string
		// own: the change is made by the holder's own client; ackAfter:
		// the holder acknowledges this long after it was told (<0:
		// never).
		own         bool
		ackAfter    time.Duration
		wantExpired int
		// minWait and maxWait bound how long BeginChange takes.
		minWait, maxWait time.Duration
	}{
		{name: "waits for the holder's acknowledgment", ackAfter: 150 * time.Millisecond, minWait: 140 * time.Millisecond, maxWait: 900 * time.Millisecond},
		{name: "a silent holder is waited for until its leases expire", ackAfter: -1, wantExpired: 1, minWait: 900 * time.Millisecond, maxWait: 5 * time.Second},
		{name: "the caller's own client is not waited for", own: true, ackAfter: -1, maxWait: 500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Second)
			told := make(chan uint64, 4)
			var h *Holder
			h = r.NewHolder(func(bool) {
				if t, ok := h.Take(); ok {
					told <- t.Epoch
				}
			})
			readID := grant(t, r, h, inode, Version{Size: 1})
			pathIDs, _, _, ok := r.GrantPath(h, r.BeginPath(), []Key{PathKey(PathSearch, ino), PathKey(PathAttrs, ino)})
			if !ok {
				t.Fatal("path grant refused")
			}
			go func() {
				e := <-told
				if tc.ackAfter >= 0 {
					time.Sleep(tc.ackAfter)
					h.Acked(e)
				}
			}()
			ctx := context.Background()
			if tc.own {
				ctx = WithHolder(ctx, h)
			}
			start := time.Now()
			end, expired := r.BeginChange(ctx, []Key{inode})
			took := time.Since(start)
			if expired != tc.wantExpired || took < tc.minWait || took > tc.maxWait {
				t.Errorf("BeginChange returned after %v with %d expired; want %d expired after %v to %v",
					took, expired, tc.wantExpired, tc.minWait, tc.maxWait)
			}
			// The caller's own leases stay for its Changed, after the
			// change.
			if _, live := r.Live(h, inode); live != tc.own {
				t.Errorf("read lease %d live during the change: %v, want %v", readID, live, tc.own)
			}
			again, _, _, ok := r.GrantPath(h, r.BeginPath(), []Key{PathKey(PathSearch, ino)})
			if ok {
				t.Errorf("path grant %v (first %v) made during the change", again, pathIDs)
			}
			if _, _, _, ok := r.Grant(h, r.Begin(inode), Version{Size: 1}); ok && tc.wantExpired == 0 {
				t.Error("read grant made during the change")
			}
			if _, _, _, ok := r.GrantPath(h, r.BeginPath(), []Key{PathKey(PathSearch, other.Ino)}); !ok && tc.wantExpired == 0 {
				t.Error("a path grant on another inode refused during the change")
			}
			if tc.own {
				r.Changed(ctx, inode)
				if _, live := r.Live(h, inode); live {
					t.Errorf("read lease %d live after the change's Changed", readID)
				}
			}
			end()
			if tc.wantExpired == 0 {
				grant(t, r, h, inode, Version{Size: 2})
				if _, _, _, ok := r.GrantPath(h, r.BeginPath(), []Key{PathKey(PathSearch, ino)}); !ok {
					t.Error("path grant refused after the change ended")
				}
			}
		})
	}
}

// TestBeginChangeLeavesNoEntries checks that an announced change of
// inodes nobody holds leases on leaves the registry as it found it.
func TestBeginChangeLeavesNoEntries(t *testing.T) {
	r := New(time.Second)
	end, _ := r.BeginChange(context.Background(), []Key{{Dev: 1, Ino: 5}, {Dev: 1, Ino: 6}})
	if len(r.files) == 0 || r.changing != 1 {
		t.Errorf("during the change: %d entries, %d changes, want the inodes' and 1", len(r.files), r.changing)
	}
	end()
	if len(r.files) != 0 || r.changing != 0 {
		t.Errorf("after the change: %d entries, %d changes left", len(r.files), r.changing)
	}
}

// TestBeginChangeAllocs counts the allocations of an announced change
// of inodes nobody holds leases on (a tar's posted creations, chowns and
// chmods): the keys and the end function, not an entry and its map per
// key (an inode has five keys): the entries the last change dropped are
// reused.
func TestBeginChangeAllocs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Registry) (func(), int)
		max    float64
	}{
		{"an inode", func(r *Registry) (func(), int) {
			return r.BeginChange(context.Background(), []Key{{Dev: 1, Ino: 5}})
		}, 2},
		{"two inodes", func(r *Registry) (func(), int) {
			return r.BeginChange(context.Background(), []Key{{Dev: 1, Ino: 5}, {Dev: 1, Ino: 6}})
		}, 2},
		{"a directory's names", func(r *Registry) (func(), int) {
			return r.BeginNamesChange(context.Background(), 7)
		}, 3}, // and BeginNamesChange's keys
		{"a change made", func(r *Registry) (func(), int) {
			return func() {}, r.Changed(context.Background(), Key{Dev: 1, Ino: 5})
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Second)
			got := testing.AllocsPerRun(100, func() {
				end, _ := tc.change(r)
				end()
			})
			if got > tc.max {
				t.Errorf("%.1f allocations a change, want at most %.0f", got, tc.max)
			}
			if len(r.files) != 0 {
				t.Errorf("%d entries left", len(r.files))
			}
		})
	}
}

// TestReusedEntryStartsEmpty checks that an entry a change of one inode
// dropped and another key reuses keeps nothing of the first: its change
// count, its version, its leases.
func TestReusedEntryStartsEmpty(t *testing.T) {
	r := New(time.Minute)
	c := newClient(r, true)
	first, second := Key{Dev: 1, Ino: 5}, Key{Dev: 1, Ino: 6}
	tk := r.Begin(first)
	if _, _, _, ok := r.Grant(c.h, tk, Version{Size: 9}); !ok {
		t.Fatal("grant refused")
	}
	r.Changed(context.Background(), first)
	if e := r.files[first]; e != nil {
		t.Fatalf("the changed inode's entry stays: %+v", *e)
	}
	if len(r.spare) == 0 {
		t.Fatal("no entry kept for reuse")
	}
	tk = r.Begin(second)
	e := r.files[second]
	if e.changes != 0 || e.version != (Version{}) || len(e.leases) != 0 || e.pending != 1 || tk.changes != 0 {
		t.Errorf("reused entry: changes %d, version %+v, %d leases, %d pending; ticket at %d", e.changes, e.version, len(e.leases), e.pending, tk.changes)
	}
	if _, ok := r.Live(c.h, second); ok {
		t.Error("a lease of the first inode is live on the second")
	}
}

// TestBeginNamesChange checks that a name about to be made in a
// directory revokes, first, the answers that found a name missing in it
// or end at it, not those that only crossed it, and that no such answer
// is granted until the change ends.
func TestBeginNamesChange(t *testing.T) {
	const dir = 20
	tests := []struct {
		name        string
		keys        []Key
		wantRevoked bool
	}{
		{"a name found missing", []Key{PathKey(PathSearch, dir), PathKey(PathNames, dir)}, true},
		{"the directory's attributes", []Key{PathKey(PathSearch, dir), PathKey(PathAttrs, dir)}, true},
		{"a walk that crossed it", []Key{PathKey(PathSearch, dir), PathKey(PathSearch, dir+1)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			c := newClient(r, true)
			ids, _, _, ok := r.GrantPath(c.h, r.BeginPath(), tc.keys)
			if !ok {
				t.Fatal("grant refused")
			}
			end, expired := r.BeginNamesChange(context.Background(), dir)
			if expired != 0 {
				t.Errorf("%d waits expired", expired)
			}
			revoked := false
			for _, id := range c.revoked {
				for _, mine := range ids {
					revoked = revoked || id == mine
				}
			}
			if revoked != tc.wantRevoked {
				t.Errorf("revoked %v of %v before the change, want revoked: %v", c.revoked, ids, tc.wantRevoked)
			}
			_, _, _, again := r.GrantPath(c.h, r.BeginPath(), tc.keys)
			if again == tc.wantRevoked {
				t.Errorf("granted again during the change: %v, want %v", again, !tc.wantRevoked)
			}
			end()
			if _, _, _, ok := r.GrantPath(c.h, r.BeginPath(), tc.keys); !ok {
				t.Error("grant refused after the change ended")
			}
		})
	}
}
