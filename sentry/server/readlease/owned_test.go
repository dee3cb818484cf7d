package readlease

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestOwnedLease: an owned lease survives only its holder's own marked
// writes; every other change, and every open, revokes it.
func TestOwnedLease(t *testing.T) {
	const ino = 77
	for _, tc := range []struct {
		name string
		// change makes the change with the holder's (own) or another
		// client's context.
		change      func(r *Registry, own, other context.Context)
		wantRevoked bool
	}{
		{name: "own marked write keeps it", change: func(r *Registry, own, _ context.Context) {
			r.Changed(WithOwnedWrite(own), Key{Dev: 1, Ino: ino})
		}},
		{name: "own unmarked write revokes", wantRevoked: true, change: func(r *Registry, own, _ context.Context) {
			r.Changed(own, Key{Dev: 1, Ino: ino})
		}},
		{name: "other client's marked write revokes", wantRevoked: true, change: func(r *Registry, _, other context.Context) {
			r.Changed(WithOwnedWrite(other), Key{Dev: 1, Ino: ino})
		}},
		{name: "own open revokes", wantRevoked: true, change: func(r *Registry, own, _ context.Context) {
			r.Opened(own, ino)
		}},
		{name: "other client's open revokes", wantRevoked: true, change: func(r *Registry, _, other context.Context) {
			r.Opened(other, ino)
		}},
		{name: "announced change revokes", wantRevoked: true, change: func(r *Registry, _, other context.Context) {
			end, _ := r.BeginChange(other, []Key{{Dev: 1, Ino: ino}})
			end()
		}},
		{name: "change of all revokes", wantRevoked: true, change: func(r *Registry, own, _ context.Context) {
			r.ChangedAll(WithOwnedWrite(own))
		}},
		{name: "open of another inode keeps it", change: func(r *Registry, _, other context.Context) {
			r.Opened(other, ino+1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Second)
			holder, other := newClient(r, true), newClient(r, true)
			id, _, ok := r.GrantOwned(holder.h, ino)
			if !ok {
				t.Fatal("GrantOwned refused")
			}
			start := time.Now()
			tc.change(r, WithHolder(context.Background(), holder.h), WithHolder(context.Background(), other.h))
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("the change took %v: it waited for an expiry", took)
			}
			if got := slices.Contains(holder.revoked, id); got != tc.wantRevoked {
				t.Errorf("lease revoked: %v, want %v (revoked %v)", got, tc.wantRevoked, holder.revoked)
			}
		})
	}
}

// TestOwnedLeaseRefused: no owned lease while the inode is being changed,
// nor to a holder that may hold none.
func TestOwnedLeaseRefused(t *testing.T) {
	r := New(time.Second)
	c := newClient(r, true)
	end, _ := r.BeginChange(context.Background(), []Key{{Dev: 1, Ino: 5}})
	if _, _, ok := r.GrantOwned(c.h, 5); ok {
		t.Error("granted during an announced change of the inode")
	}
	end()
	if _, _, ok := r.GrantOwned(c.h, 5); !ok {
		t.Error("refused after the change ended")
	}
	c.h.Close()
	if _, _, ok := r.GrantOwned(c.h, 6); ok {
		t.Error("granted to a closed holder")
	}
}
