package client

import (
	"testing"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestOwnedFileLive checks when an owned file's copy may answer: not
// after its lease's revocation, its description's close, a recovery,
// nor while a posted change of the file that is not an owned write is
// without a reply.
func TestOwnedFileLive(t *testing.T) {
	const desc, lease, handle = 7, 70, "h7"
	owned := func(rc *readCache, s leaseStamp) {
		rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
	}
	tests := []struct {
		name string
		run  func(rc *readCache, s leaseStamp)
		live bool
	}{
		{name: "granted", run: owned, live: true},
		{name: "granted before a recovery", run: func(rc *readCache, s leaseStamp) {
			rc.dropAll()
			owned(rc, s)
		}},
		{name: "revoked", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{lease}})
		}},
		{name: "another lease revoked", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{lease + 1}})
		}, live: true},
		{name: "its description closed", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.observeClosed([]*pb.StateRecord{{Key: statekey.File(desc).String(), Deleted: true}})
		}},
		{name: "another description closed", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.observeClosed([]*pb.StateRecord{{Key: statekey.File(desc + 1).String(), Deleted: true}})
		}, live: true},
		{name: "its own owned write posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, handle, 0)
			rc.ownedPosted = map[string]int{handle: 1}
		}, live: true},
		{name: "another write to the file posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, handle, 0)
		}},
		{name: "a write to a file not known posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, "", 0)
		}},
		{name: "a write to another file posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, "other", 0)
		}, live: true},
		{name: "granted at an epoch already revoked", run: func(rc *readCache, s leaseStamp) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 2})
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Epoch: 1}, s)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := lockedCacheAfter(tc.run)
			defer rc.mu.Unlock()
			if got := rc.ownedLiveLocked(desc, handle) != nil; got != tc.live {
				t.Errorf("the copy answers: %v, want %v", got, tc.live)
			}
			if int(rc.ownedCount.Load()) != len(rc.owned) {
				t.Errorf("ownedCount %d, %d copies", rc.ownedCount.Load(), len(rc.owned))
			}
		})
	}
}
