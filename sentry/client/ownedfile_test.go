package client

import (
	"testing"
	"time"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestOwnedFileLive checks when an owned file's copy may answer: once
// its lease is granted at its size, not after the lease's revocation or
// lapse, its description's close, a recovery, nor while a posted change
// of the file that is not an owned write is without a reply; and when
// the copy is kept for the next lseek to ask again.
func TestOwnedFileLive(t *testing.T) {
	const desc, lease, handle = 7, 70, "h7"
	owned := func(rc *readCache, s leaseStamp) {
		rc.startCopy(desc, nil, leaseStamp{})
		rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
	}
	tests := []struct {
		name string
		run  func(rc *readCache, s leaseStamp)
		live bool
		// kept says the copy stays (without a live lease).
		kept bool
	}{
		{name: "granted", run: owned, live: true, kept: true},
		{name: "not granted", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, nil, leaseStamp{})
		}, kept: true},
		{name: "granted at another size", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, nil, leaseStamp{})
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Size: 5}, s)
		}, kept: true},
		{name: "granted without a copy", run: func(rc *readCache, s leaseStamp) {
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}},
		{name: "lapsed", run: func(rc *readCache, s leaseStamp) {
			s.sent = s.sent.Add(-2 * time.Second)
			owned(rc, s)
		}, kept: true},
		{name: "a recovery", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, nil, leaseStamp{})
			rc.dropAll()
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}},
		{name: "granted by a call sent before a recovery", run: func(rc *readCache, s leaseStamp) {
			rc.dropAll()
			owned(rc, s)
		}, kept: true},
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
			rc.postBegin(dataChange, handle, 0, 0)
			rc.ownedPosted = map[string]int{handle: 1}
		}, live: true},
		{name: "another write to the file posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, handle, 0, 0)
		}, kept: true},
		{name: "a write to a file not known posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, "", 0, 0)
		}, kept: true},
		{name: "a write to another file posted", run: func(rc *readCache, s leaseStamp) {
			owned(rc, s)
			rc.postBegin(dataChange, "other", 0, 0)
		}, live: true},
		{name: "granted at an epoch already revoked", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, nil, leaseStamp{})
			rc.revoke(&pb.LeaseRevoke{Epoch: 2})
			rc.grant(&pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Epoch: 1}, s)
		}, kept: true},
		// The lease the creating open's reply carried (ownedOpenWanted),
		// taken as the copy starts.
		{name: "granted with the open", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}, live: true},
		{name: "granted with the open of another description", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc + 1, Owned: true, TtlMs: 1000}, s)
		}, kept: true},
		{name: "a read lease with the open", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, TtlMs: 1000}, s)
		}, kept: true},
		{name: "granted with an open sent before a recovery", run: func(rc *readCache, s leaseStamp) {
			rc.dropAll()
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
		}, kept: true},
		{name: "granted with the open at an epoch already revoked", run: func(rc *readCache, s leaseStamp) {
			rc.revoke(&pb.LeaseRevoke{Epoch: 2})
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000, Epoch: 1}, s)
		}, kept: true},
		{name: "granted with the open, then revoked", run: func(rc *readCache, s leaseStamp) {
			rc.startCopy(desc, &pb.ReadLease{Id: lease, File: desc, Owned: true, TtlMs: 1000}, s)
			rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{lease}})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := lockedCacheAfter(tc.run)
			defer rc.mu.Unlock()
			if got := rc.ownedLiveLocked(desc, handle) != nil; got != tc.live {
				t.Errorf("the copy answers: %v, want %v", got, tc.live)
			}
			if kept := rc.owned[desc] != nil; kept != (tc.kept || tc.live) {
				t.Errorf("the copy is kept: %v, want %v", kept, tc.kept || tc.live)
			}
			if int(rc.ownedCount.Load()) != len(rc.owned) {
				t.Errorf("ownedCount %d, %d copies", rc.ownedCount.Load(), len(rc.owned))
			}
		})
	}
}
