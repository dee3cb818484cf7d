package readlease

import (
	"context"
	"testing"
	"time"
)

// TestOwnRevocations: a revocation that a change of the holder's own
// client made is Own (its kick is not urgent: nothing waits for it, the
// change's reply takes it along); one another client's change made, a
// change no client made, a release, or any of them queued with an own
// one is not, and is kicked at once.
func TestOwnRevocations(t *testing.T) {
	const ino = 31
	done, cancel := context.WithCancel(context.Background())
	cancel()
	file := Key{Dev: 1, Ino: ino}
	for _, tc := range []struct {
		name string
		// change makes the changes with the holder's (own) or another
		// client's context.
		// (other's wait for the holder's acknowledgment is cancelled at
		// once: nothing acknowledges here).
		change func(r *Registry, h *Holder, own, other context.Context)
		own    bool
	}{
		{name: "own change of the file", own: true, change: func(r *Registry, _ *Holder, own, _ context.Context) {
			r.Changed(own, file)
		}},
		{name: "own name made in the directory", own: true, change: func(r *Registry, _ *Holder, own, _ context.Context) {
			r.DirChanged(own, ino)
		}},
		{name: "own open of its owned file", own: true, change: func(r *Registry, h *Holder, own, _ context.Context) {
			claim := r.BeginOwned(h, ino)
			defer claim.End()
			if _, _, ok := claim.Grant(); !ok {
				t.Fatal("owned grant refused")
			}
			r.Opened(own, ino)
		}},
		{name: "own change of all", own: true, change: func(r *Registry, _ *Holder, own, _ context.Context) {
			r.ChangedAll(own)
		}},
		{name: "own change of every path", own: true, change: func(r *Registry, _ *Holder, own, _ context.Context) {
			r.ChangedPaths(own)
		}},
		{name: "another client's change", change: func(r *Registry, _ *Holder, _, other context.Context) {
			r.Changed(other, file)
		}},
		{name: "a change no client made", change: func(r *Registry, _ *Holder, _, _ context.Context) {
			r.Changed(done, file)
		}},
		{name: "own, then another client's", change: func(r *Registry, _ *Holder, own, other context.Context) {
			r.DirChanged(own, ino)
			r.Changed(other, file)
		}},
		{name: "own announced change keeps the holder's leases for its Changed", own: true, change: func(r *Registry, _ *Holder, own, _ context.Context) {
			end, _ := r.BeginChange(own, []Key{file})
			r.Changed(own, file)
			end()
		}},
		{name: "a grant at another version (a change outside the server)", change: func(r *Registry, h *Holder, _, _ context.Context) {
			r.Grant(h, r.Begin(file), Version{Size: 2})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			kicks, urgent := 0, false
			h := r.NewHolder(func(u bool) {
				kicks++
				urgent = urgent || u
			})
			other := newClient(r, true)
			grant(t, r, h, file, Version{Size: 1})
			if _, _, _, ok := r.GrantPath(h, r.BeginPath(), []Key{PathKey(PathSearch, ino), PathKey(PathAttrs, ino), PathKey(PathNames, ino)}); !ok {
				t.Fatal("path grant refused")
			}
			tc.change(r, h, WithHolder(context.Background(), h), WithHolder(done, other.h))
			taken, ok := h.Take()
			if !ok || len(taken.IDs) == 0 {
				t.Fatalf("no revocation queued")
			}
			if taken.Own != tc.own {
				t.Errorf("Own = %v, want %v", taken.Own, tc.own)
			}
			if kicks == 0 || urgent == tc.own {
				t.Errorf("%d kicks, urgent %v, want urgent %v", kicks, urgent, !tc.own)
			}
			// Take empties the queue: what is queued next is judged alone.
			if _, _, _, ok := r.GrantPath(h, r.BeginPath(), []Key{PathKey(PathNames, ino+1)}); !ok {
				t.Fatal("path grant refused")
			}
			r.DirChanged(WithHolder(context.Background(), h), ino+1)
			if next, ok := h.Take(); !ok || !next.Own {
				t.Errorf("the next own revocation: %+v %v, want Own", next, ok)
			}
		})
	}
}

// TestOwnRevocationsOfARelease: a release (a full budget's oldest
// leases revoked without a change) waits for the acknowledgment: not Own.
func TestOwnRevocationsOfARelease(t *testing.T) {
	r := New(time.Minute)
	clk := &fakeClock{now: time.Unix(1000, 0)}
	r.SetClock(clk.Now)
	urgent := false
	h := r.NewHolder(func(u bool) { urgent = urgent || u })
	b := budgetFiller{t: t, r: r, h: h}
	if ids, _ := b.grant(pathBudget, budgetLimits[pathBudget]+1); len(ids) != budgetLimits[pathBudget] {
		t.Fatalf("%d of %d granted", len(ids), budgetLimits[pathBudget])
	}
	taken, ok := h.Take()
	if !ok || taken.Own || !urgent {
		t.Errorf("release: %d ids, Own %v, urgent %v; want a release, not Own, urgent", len(taken.IDs), taken.Own, urgent)
	}
}
