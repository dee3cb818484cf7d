package readlease

import (
	"slices"
	"testing"
	"time"
)

// TestBudgets fills one budget of a holder that holds leases of the
// other, and checks that the full budget refuses its own grants and
// releases its own oldest leases alone: a full path budget (a client's
// listings) neither refuses nor releases a read or owned lease, a full
// read budget neither a path lease; the holder's leases stay bounded by
// the sum of the budgets.
func TestBudgets(t *testing.T) {
	const kept = 100 // leases of the other budget, granted first
	tests := []struct {
		name string
		// full is the budget filled; kept leases of the other one are
		// granted before it.
		full budget
		// ownedGranted: an owned lease is granted with full full.
		ownedGranted bool
	}{
		{name: "a full path budget", full: pathBudget, ownedGranted: true},
		{name: "a full read budget", full: readBudget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			clk := &fakeClock{now: time.Unix(1000, 0)}
			r.SetClock(clk.Now)
			c := newClient(r, false) // acknowledges below
			b := budgetFiller{t: t, r: r, h: c.h}
			other := readBudget
			if tc.full == readBudget {
				other = pathBudget
			}
			keptIDs, keptKeys := b.grant(other, kept)
			if len(keptIDs) != kept {
				t.Fatalf("%d of %d leases of the other budget granted", len(keptIDs), kept)
			}
			ids, _ := b.grant(tc.full, budgetLimits[tc.full])
			if len(ids) != budgetLimits[tc.full] {
				t.Fatalf("%d leases granted below the limit of %d", len(ids), budgetLimits[tc.full])
			}
			if more, _ := b.grant(tc.full, 1); len(more) != 0 {
				t.Fatal("a lease granted beyond the budget")
			}
			// The release is of the full budget's oldest quarter.
			if want := ids[:budgetLimits[tc.full]/4]; !slices.Equal(c.revoked, want) {
				t.Errorf("released %d leases from %v, want the full budget's oldest %d from %d", len(c.revoked), c.revoked[:min(len(c.revoked), 1)], len(want), want[0])
			}
			// The other budget's leases stay, and its grants go on.
			for i, k := range keptKeys {
				if _, live := r.Live(c.h, k); !live {
					t.Fatalf("lease %d on %v of the other budget gone", keptIDs[i], k)
				}
			}
			if more, _ := b.grant(other, 1); len(more) != 1 {
				t.Error("a lease of the other budget refused")
			}
			claim := r.BeginOwned(c.h, 1<<50)
			if _, _, ok := claim.Grant(); ok != tc.ownedGranted {
				t.Errorf("owned lease granted %v, want %v", ok, tc.ownedGranted)
			}
			claim.End()
			if n, most := len(c.h.leases), maxReadLeasesPerHolder+maxPathLeasesPerHolder; n > most {
				t.Errorf("the holder holds %d leases, more than %d", n, most)
			}
			// Once the release is acknowledged, the full budget grants
			// again.
			c.h.Acked(c.h.epoch)
			if more, _ := b.grant(tc.full, 1); len(more) != 1 {
				t.Error("no grant after the release was acknowledged")
			}
		})
	}
}

// TestBudgetsBound fills both budgets of a holder: it holds their sum,
// and each refuses more.
func TestBudgetsBound(t *testing.T) {
	r := New(time.Minute)
	clk := &fakeClock{now: time.Unix(1000, 0)}
	r.SetClock(clk.Now)
	h := r.NewHolder(nil) // never acknowledges: releases stay
	b := budgetFiller{t: t, r: r, h: h}
	for _, bg := range []budget{readBudget, pathBudget} {
		if ids, _ := b.grant(bg, budgetLimits[bg]); len(ids) != budgetLimits[bg] {
			t.Fatalf("budget %d: %d of %d granted", bg, len(ids), budgetLimits[bg])
		}
	}
	for _, bg := range []budget{readBudget, pathBudget} {
		if ids, _ := b.grant(bg, 1); len(ids) != 0 {
			t.Errorf("budget %d: granted beyond its limit", bg)
		}
	}
	if n, want := len(h.leases), maxReadLeasesPerHolder+maxPathLeasesPerHolder; n != want {
		t.Errorf("the holder holds %d leases, want %d", n, want)
	}
	if room := h.PathRoom(); room != 0 {
		t.Errorf("PathRoom = %d with a full path budget", room)
	}
}

// budgetFiller grants leases of fresh keys to h.
type budgetFiller struct {
	t   *testing.T
	r   *Registry
	h   *Holder
	ino uint64
}

// grant grants h n leases of budget b on keys not granted before (path
// leases in grants of up to 1,024 keys, a listing's size) and returns
// the ids granted and their keys; it stops at the first refusal.
func (f *budgetFiller) grant(b budget, n int) (ids []uint64, keys []Key) {
	for len(ids) < n {
		if b == readBudget {
			f.ino++
			k := Key{Dev: 1, Ino: f.ino}
			id, _, _, ok := f.r.Grant(f.h, f.r.Begin(k), Version{})
			if !ok {
				return ids, keys
			}
			ids, keys = append(ids, id), append(keys, k)
			continue
		}
		chunk := make([]Key, min(1024, n-len(ids)))
		for i := range chunk {
			f.ino++
			chunk[i] = PathKey(PathSearch, f.ino)
		}
		got, _, _, ok := f.r.GrantPath(f.h, f.r.BeginPath(), chunk)
		if !ok {
			return ids, keys
		}
		ids, keys = append(ids, got...), append(keys, chunk...)
	}
	return ids, keys
}
