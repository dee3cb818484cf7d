package readlease

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestLeasesOfOneKey grants one client n read leases on one file (a
// large file's windows), 100 ms apart, and another client one among
// them; expires the first client's oldest and prunes them (front, then
// middle of the entry's list), and ends with a change of the file or
// the first client's close. The entry's list keeps each lease until
// then: the latest is the live one, a change revokes exactly those left,
// a close forgets the client's alone, and no dropped lease keeps its
// holder reachable from the entry.
func TestLeasesOfOneKey(t *testing.T) {
	tests := []struct {
		n, expired int
		closed     bool
	}{
		{n: 1},
		{n: 2, expired: 1},
		{n: 3, expired: 1},
		{n: 10, expired: 5},
		{n: 10, expired: 7},
		{n: 10, expired: 10},
		{n: 10, expired: 7, closed: true},
		{n: 3, closed: true},
	}
	for _, tc := range tests {
		end := "changed"
		if tc.closed {
			end = "closed"
		}
		t.Run(fmt.Sprintf("%d leases, %d expired, %s", tc.n, tc.expired, end), func(t *testing.T) {
			r := New(time.Second)
			clk := &fakeClock{now: time.Unix(1000, 0)}
			r.SetClock(clk.Now)
			a, b := newClient(r, true), newClient(r, true)
			var ids []uint64
			var bID uint64
			for i := range tc.n {
				if i == tc.n/2 {
					bID = grant(t, r, b.h, k1, Version{})
				}
				ids = append(ids, grant(t, r, a.h, k1, Version{}))
				clk.advance(100 * time.Millisecond)
			}
			// The first expired leases of a lapse; b's (granted with
			// a's n/2-th) lives on, renewed.
			clk.advance(time.Duration(tc.expired-tc.n)*100*time.Millisecond + time.Second - time.Millisecond)
			b.h.Renew()
			r.mu.Lock()
			a.h.mu.Lock()
			r.pruneHolderLocked(a.h, clk.Now())
			a.h.mu.Unlock()
			e := r.files[k1]
			if got, want := len(e.leases), tc.n-tc.expired+1; got != want {
				t.Errorf("n %d, %d expired: %d leases on the file, want %d", tc.n, tc.expired, got, want)
			}
			for _, l := range e.leases[len(e.leases):cap(e.leases)] {
				if l.h != nil {
					t.Errorf("n %d, %d expired: a dropped lease %d keeps its holder", tc.n, tc.expired, l.id)
				}
			}
			r.mu.Unlock()
			live, ok := r.Live(a.h, k1)
			if want := tc.expired < tc.n; ok != want || (ok && live != ids[tc.n-1]) {
				t.Errorf("n %d, %d expired: Live = %d %v, want %d %v", tc.n, tc.expired, live, ok, ids[tc.n-1], want)
			}
			if tc.closed {
				a.h.Close()
				if _, ok := r.Live(a.h, k1); ok {
					t.Errorf("n %d: a lease live after its holder closed", tc.n)
				}
				if id, ok := r.Live(b.h, k1); !ok || id != bID {
					t.Errorf("n %d: the other client's lease %d %v after a close, want %d", tc.n, id, ok, bID)
				}
				return
			}
			r.Changed(context.Background(), k1)
			slices.Sort(a.revoked)
			if want := ids[tc.expired:]; !slices.Equal(a.revoked, want) {
				t.Errorf("n %d, %d expired: revoked %v, want %v", tc.n, tc.expired, a.revoked, want)
			}
			if !slices.Equal(b.revoked, []uint64{bID}) {
				t.Errorf("n %d: the other client's revoked %v, want [%d]", tc.n, b.revoked, bID)
			}
			if r.files[k1] != nil || len(a.h.leases) != 0 || len(b.h.leases) != 0 {
				t.Errorf("n %d: the entry or a holder's leases stay after the change", tc.n)
			}
		})
	}
}
