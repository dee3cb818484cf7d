package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
)

// TestLeaseObserverRevokes checks that the attribute cache's changes of
// inodes reach the registry through leaseObserver: one inode's, and
// several told as one (a Rename's, an UnlinkMany's), revoke the leases
// on those inodes and no other.
func TestLeaseObserverRevokes(t *testing.T) {
	tests := []struct {
		name string
		tell func(o leaseObserver, ctx context.Context)
		want []uint64 // inode numbers whose lease goes
	}{
		{"an inode", func(o leaseObserver, ctx context.Context) { o.Changed(ctx, 1, 10) }, []uint64{10}},
		{"several as one", func(o leaseObserver, ctx context.Context) {
			o.ChangedMany(ctx, []*goferpb.InodeID{{Dev: 1, Ino: 10}, {Dev: 1, Ino: 11}})
		}, []uint64{10, 11}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := readlease.New(time.Minute)
			var revoked []uint64
			var h *readlease.Holder
			h = r.NewHolder(func(bool) {
				if tk, ok := h.Take(); ok {
					revoked = append(revoked, tk.IDs...)
				}
			})
			inos := []uint64{10, 11, 12}
			keys := make([]readlease.Key, len(inos))
			for i, ino := range inos {
				keys[i] = readlease.PathKey(readlease.PathSearch, ino)
			}
			ids, _, _, ok := r.GrantPath(h, r.BeginPath(), keys)
			if !ok {
				t.Fatal("grant refused")
			}
			// The holder's own change: nothing waits for its
			// acknowledgment.
			tc.tell(leaseObserver{r: r, log: hclog.NewNullLogger()}, readlease.WithHolder(context.Background(), h))
			var want []uint64
			for i, ino := range inos {
				if slices.Contains(tc.want, ino) {
					want = append(want, ids[i])
				}
			}
			slices.Sort(revoked)
			if !slices.Equal(revoked, want) {
				t.Errorf("revoked %v, want %v", revoked, want)
			}
		})
	}
}
