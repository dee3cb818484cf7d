package readlease

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestOwnedLease: an owned claim, before its grant and after, survives
// only its holder's own marked writes; every other change, and every
// open, voids it (a grant then fails) and revokes its lease if granted;
// a claim not granted revokes nothing (no message).
func TestOwnedLease(t *testing.T) {
	const ino = 77
	for _, tc := range []struct {
		name string
		// change makes the change with the holder's (own) or another
		// client's context.
		change func(r *Registry, own, other context.Context)
		void   bool
	}{
		{name: "own marked write keeps it", change: func(r *Registry, own, _ context.Context) {
			r.Changed(WithOwnedWrite(own), Key{Dev: 1, Ino: ino})
		}},
		{name: "own unmarked write voids", void: true, change: func(r *Registry, own, _ context.Context) {
			r.Changed(own, Key{Dev: 1, Ino: ino})
		}},
		{name: "other client's write voids", void: true, change: func(r *Registry, _, other context.Context) {
			r.Changed(other, Key{Dev: 1, Ino: ino})
		}},
		{name: "own open voids", void: true, change: func(r *Registry, own, _ context.Context) {
			r.Opened(own, ino)
		}},
		{name: "other client's open voids", void: true, change: func(r *Registry, _, other context.Context) {
			r.Opened(other, ino)
		}},
		{name: "announced change voids", void: true, change: func(r *Registry, _, other context.Context) {
			end, _ := r.BeginChange(other, []Key{{Dev: 1, Ino: ino}})
			end()
		}},
		{name: "change of all voids", void: true, change: func(r *Registry, own, _ context.Context) {
			r.ChangedAll(own)
		}},
		{name: "open of another inode keeps it", change: func(r *Registry, _, other context.Context) {
			r.Opened(other, ino+1)
		}},
	} {
		for _, granted := range []bool{false, true} {
			name := tc.name + ", claimed"
			if granted {
				name = tc.name + ", granted"
			}
			t.Run(name, func(t *testing.T) {
				r := New(time.Second)
				holder, other := newClient(r, true), newClient(r, true)
				claim := r.BeginOwned(holder.h, ino)
				defer claim.End()
				var id uint64
				if granted {
					var ok bool
					if id, _, ok = claim.Grant(); !ok {
						t.Fatal("Grant refused")
					}
				}
				start := time.Now()
				tc.change(r, WithHolder(context.Background(), holder.h), WithHolder(context.Background(), other.h))
				if took := time.Since(start); took > 500*time.Millisecond {
					t.Errorf("the change took %v: it waited for an expiry", took)
				}
				if got := slices.Contains(holder.revoked, id); granted && got != tc.void {
					t.Errorf("lease revoked: %v, want %v (revoked %v)", got, tc.void, holder.revoked)
				}
				if !granted && holder.kicks.Load() != 0 {
					t.Errorf("a claim not granted was revoked (%d kicks): a message for a file nobody read", holder.kicks.Load())
				}
				if _, _, ok := claim.Grant(); ok == tc.void {
					t.Errorf("grant after the change: %v, want %v", ok, !tc.void)
				}
			})
		}
	}
}

// TestOwnedLeaseEnd: the claim's end forgets its lease without a
// revocation, and a later open of the inode revokes nothing.
func TestOwnedLeaseEnd(t *testing.T) {
	r := New(time.Second)
	c := newClient(r, true)
	claim := r.BeginOwned(c.h, 5)
	if _, _, ok := claim.Grant(); !ok {
		t.Fatal("Grant refused")
	}
	// A second grant (the first lapsed on the client) replaces it.
	id, _, ok := claim.Grant()
	if !ok {
		t.Fatal("second Grant refused")
	}
	if n := len(c.h.leases); n != 1 {
		t.Errorf("the holder holds %d leases after two grants, want 1", n)
	}
	claim.End()
	r.Opened(WithHolder(context.Background(), c.h), 5)
	if c.kicks.Load() != 0 || len(c.revoked) != 0 {
		t.Errorf("revoked %v after the claim ended", c.revoked)
	}
	if _, held := c.h.leases[id]; held || len(r.files) != 0 {
		t.Errorf("lease %d held %v, %d registry entries after the claim ended", id, held, len(r.files))
	}
}

// TestOwnedLeaseRefused: no owned lease while the inode is being changed,
// nor to a holder that may hold none.
func TestOwnedLeaseRefused(t *testing.T) {
	r := New(time.Second)
	c := newClient(r, true)
	claim := r.BeginOwned(c.h, 5)
	end, _ := r.BeginChange(context.Background(), []Key{{Dev: 1, Ino: 6}})
	if _, _, ok := claim.Grant(); !ok {
		t.Error("refused during a change of another inode")
	}
	end()
	c.h.Close()
	if _, _, ok := claim.Grant(); ok {
		t.Error("granted to a closed holder")
	}
	claim.End()
}
