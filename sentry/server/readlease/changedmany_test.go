package readlease

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// syncClient is a fake client that takes its holder's revocations at
// each kick and, if ack, acknowledges at once (in the kick, before the
// change's wait) those not its own; onKick runs after.
type syncClient struct {
	h       *Holder
	ack     bool
	revoked []uint64
	own     []bool
	onKick  func()
}

func newSyncClient(r *Registry, ack bool) *syncClient {
	c := &syncClient{ack: ack}
	c.h = r.NewHolder(func(bool) {
		if t, ok := c.h.Take(); ok {
			c.revoked = append(c.revoked, t.IDs...)
			c.own = append(c.own, t.Own)
			if c.ack && !t.Own {
				c.h.Acked(t.Epoch)
			}
		}
		if c.onKick != nil {
			c.onKick()
		}
	})
	return c
}

// grantPath grants c's holder keys, failing t if refused.
func (c *syncClient) grantPath(t *testing.T, r *Registry, keys ...Key) []uint64 {
	t.Helper()
	ids, _, _, ok := r.GrantPath(c.h, r.BeginPath(), keys)
	if !ok {
		t.Fatalf("grant of %v refused", keys)
	}
	return ids
}

// TestChangedManyAsEachChanged checks that ChangedMany of inodes does
// what a Changed of each does: each holder's leases on the inodes'
// keys, and those alone, are revoked; the changing client's own are
// its own (not waited for) but for its complete names, which stay; a
// write its holder applied to its owned copy leaves the owned lease;
// every other holder is waited for, one wait each, until it
// acknowledged or its leases expired; and a path grant begun before
// fails on the inodes' keys alone, counting a change per inode against
// the changes a creation's grant allows itself (PathTicket.After).
func TestChangedManyAsEachChanged(t *testing.T) {
	const x, y, z = 100, 101, 102
	X, Y, Z := Key{Dev: 1, Ino: x}, Key{Dev: 1, Ino: y}, Key{Dev: 1, Ino: z}
	modes := []struct {
		name   string
		change func(r *Registry, ctx context.Context, inodes []Key) int
	}{
		{"each Changed", func(r *Registry, ctx context.Context, inodes []Key) int {
			n := 0
			for _, k := range inodes {
				n += r.Changed(ctx, k)
			}
			return n
		}},
		{"ChangedMany", func(r *Registry, ctx context.Context, inodes []Key) int { return r.ChangedMany(ctx, inodes) }},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Run("revocations", func(t *testing.T) {
				for _, ownedWrite := range []bool{false, true} {
					r := New(time.Minute)
					own, other := newSyncClient(r, true), newSyncClient(r, true)
					claim := r.BeginOwned(own.h, x)
					ownedID, _, ok := claim.Grant()
					if !ok {
						t.Fatal("owned grant refused")
					}
					ownRead := grant(t, r, own.h, X, Version{})
					ownPath := own.grantPath(t, r, PathKey(PathSearch, x), PathKey(PathComplete, y), PathKey(PathSearch, z))
					otherRead := grant(t, r, other.h, Y, Version{})
					grant(t, r, other.h, Z, Version{})
					otherPath := other.grantPath(t, r, PathKey(PathSearch, x), PathKey(PathAttrs, y), PathKey(PathNames, y), PathKey(PathComplete, x), PathKey(PathSearch, z))
					ctx := WithHolder(context.Background(), own.h)
					wantOwn := []uint64{ownRead, ownPath[0]}
					if ownedWrite {
						ctx = WithOwnedWrite(ctx)
					} else {
						wantOwn = append(wantOwn, ownedID)
					}
					if expired := m.change(r, ctx, []Key{X, Y}); expired != 0 {
						t.Errorf("owned write %v: %d waits expired, want 0", ownedWrite, expired)
					}
					for _, c := range []struct {
						name    string
						c       *syncClient
						want    []uint64
						wantOwn bool
					}{
						{"the changing client", own, wantOwn, true},
						{"another client", other, append([]uint64{otherRead}, otherPath[:4]...), false},
					} {
						slices.Sort(c.c.revoked)
						slices.Sort(c.want)
						if !slices.Equal(c.c.revoked, c.want) {
							t.Errorf("owned write %v: %s's revoked %v, want %v", ownedWrite, c.name, c.c.revoked, c.want)
						}
						for _, o := range c.c.own {
							if o != c.wantOwn {
								t.Errorf("owned write %v: %s's revocations taken as own %v, want %v", ownedWrite, c.name, c.c.own, c.wantOwn)
								break
							}
						}
					}
					if _, ok := r.Live(own.h, PathKey(PathComplete, y)); !ok {
						t.Errorf("owned write %v: the changing client's complete names were revoked", ownedWrite)
					}
					if _, ok := r.Live(own.h, OwnedKey(x)); ok == !ownedWrite {
						t.Errorf("owned write %v: the owned lease live %v", ownedWrite, ok)
					}
				}
			})
			t.Run("waits", func(t *testing.T) {
				r := New(time.Second)
				var now atomic.Int64
				now.Store(time.Unix(1000, 0).UnixNano())
				r.SetClock(func() time.Time { return time.Unix(0, now.Load()) })
				own, acking := newSyncClient(r, false), newSyncClient(r, true)
				silent := []*syncClient{newSyncClient(r, false), newSyncClient(r, false)}
				// The first silent client's kick moves the clock past
				// every lease's expiry: its wait, and the other's, end so.
				silent[0].onKick = func() { now.Add(int64(2 * time.Second)) }
				own.grantPath(t, r, PathKey(PathSearch, x), PathKey(PathSearch, y))
				acking.grantPath(t, r, PathKey(PathSearch, x), PathKey(PathSearch, y))
				silent[0].grantPath(t, r, PathKey(PathSearch, x), PathKey(PathSearch, y))
				grant(t, r, silent[1].h, X, Version{})
				silent[1].grantPath(t, r, PathKey(PathAttrs, y))
				expired := m.change(r, WithHolder(context.Background(), own.h), []Key{X, Y})
				if expired != len(silent) {
					t.Errorf("%d waits expired, want %d (one a silent client)", expired, len(silent))
				}
				// Each silent client's revocations let expire once.
				for i, c := range []struct {
					c    *syncClient
					want int
				}{{own, 0}, {acking, 0}, {silent[0], 1}, {silent[1], 1}} {
					c.c.h.mu.Lock()
					unacked := c.c.h.unacked
					c.c.h.mu.Unlock()
					if unacked != c.want {
						t.Errorf("client %d: %d revocations unacknowledged, want %d", i, unacked, c.want)
					}
				}
			})
			t.Run("grants in flight", func(t *testing.T) {
				r := New(time.Minute)
				own, other := newSyncClient(r, true), newSyncClient(r, true)
				otherT, ownT := r.BeginPath(), r.BeginPath()
				m.change(r, WithHolder(context.Background(), own.h), []Key{X, Y})
				for _, g := range []struct {
					name string
					c    *syncClient
					t    PathTicket
					keys []Key
					want bool
				}{
					{"another inode", other, otherT, []Key{PathKey(PathSearch, z), PathKey(PathAttrs, z)}, true},
					{"another inode and a changed one's attributes", other, otherT, []Key{PathKey(PathSearch, z), PathKey(PathAttrs, y)}, false},
					{"a changed inode's names", other, otherT, []Key{PathKey(PathNames, x)}, false},
					{"begun after", other, r.BeginPath(), []Key{PathKey(PathSearch, x), PathKey(PathSearch, y)}, true},
					{"one own change allowed, of one inode", own, ownT.After(1), []Key{PathKey(PathSearch, x), PathKey(PathSearch, z)}, true},
					{"one own change allowed, of two inodes", own, ownT.After(1), []Key{PathKey(PathSearch, x), PathKey(PathSearch, y)}, false},
					{"two own changes allowed, of two inodes", own, ownT.After(2), []Key{PathKey(PathSearch, x), PathKey(PathSearch, y)}, true},
				} {
					if _, _, _, ok := r.GrantPath(g.c.h, g.t, g.keys); ok != g.want {
						t.Errorf("%s: granted %v, want %v", g.name, ok, g.want)
					}
				}
			})
		})
	}
}
