package readlease

import (
	"context"
	"testing"
	"time"
)

// TestChangesWaitingForEachOther runs a change of each of two clients,
// the older client's of a file the newer holds a lease on, where each
// client's acknowledgment arrives at once but counts only once its own
// change ended (a change it posted before the acknowledgment). When the
// newer client's change is of a file the older holds a lease on, each
// waits for the other: the older's goes on without the acknowledgment,
// then the newer's, long before the leases expire (without breaksCycle,
// at their expiry). When it is of a file nobody holds, it ends at once,
// and the older's follows with the acknowledgment: nothing is broken.
func TestChangesWaitingForEachOther(t *testing.T) {
	tests := []struct {
		name string
		// newerWaitsForOlder: the newer client's change is of the file
		// the older one holds a lease on (else of a file nobody holds).
		newerWaitsForOlder bool
		wantBroken         uint64
	}{
		{name: "each waits for the other", newerWaitsForOlder: true, wantBroken: 1},
		{name: "the newer waits for nobody", newerWaitsForOlder: false, wantBroken: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const ttl = 2 * time.Second
			r := New(ttl)
			type party struct {
				h    *Holder
				done chan struct{} // closed when its change ended
			}
			newParty := func() *party {
				p := &party{done: make(chan struct{})}
				p.h = r.NewHolder(func(bool) {
					if t, ok := p.h.Take(); ok {
						p.h.Received(t.Epoch)
						go func() {
							<-p.done
							p.h.Acked(t.Epoch)
						}()
					}
				})
				return p
			}
			older, newer := newParty(), newParty()
			x, y, z := Key{Dev: 1, Ino: 100}, Key{Dev: 1, Ino: 101}, Key{Dev: 1, Ino: 102}
			grant(t, r, newer.h, x, Version{})
			grant(t, r, older.h, y, Version{})
			ended := make(chan string, 2)
			change := func(p *party, name string, k Key) {
				end, _ := r.BeginChange(WithHolder(context.Background(), p.h), []Key{k})
				end()
				// Noted before p's acknowledgments go (p.done), which
				// may let the other change end.
				ended <- name
				close(p.done)
			}
			start := time.Now()
			go change(older, "older", x)
			// The older client's change waits for the newer's
			// acknowledgment before the newer's change begins.
			for !waiting(older.h, newer.h) {
				time.Sleep(time.Millisecond)
			}
			newerKey := z
			if tc.newerWaitsForOlder {
				newerKey = y
			}
			go change(newer, "newer", newerKey)
			first, second := <-ended, <-ended
			took := time.Since(start)
			if got := r.cyclesBroken.Load(); got != tc.wantBroken {
				t.Errorf("%d waits broken, want %d", got, tc.wantBroken)
			}
			want := []string{"newer", "older"}
			if tc.newerWaitsForOlder {
				want = []string{"older", "newer"}
			}
			if first != want[0] || second != want[1] {
				t.Errorf("ended %s then %s, want %s then %s", first, second, want[0], want[1])
			}
			if took >= ttl/2 {
				t.Errorf("the changes took %v: they waited for the leases' expiry (%v)", took, ttl)
			}
		})
	}
}

// waiting says whether a change of h's client waits for o's
// acknowledgment.
func waiting(h, o *Holder) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waitingFor[o] > 0
}
