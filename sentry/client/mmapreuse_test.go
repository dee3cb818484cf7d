package client

import (
	"testing"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/context"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestMmapPlanReuse keeps the plan of a forwarded private mmap on the
// file's lease (readCache.keepMmapPlan) after each kind of event around
// the call, then asks for it for a later private mmap (keptMmapPlan,
// fileCache.reuse): it serves while the lease that was held before the
// call was sent still holds and the client still maps the server file,
// for any description attached to the lease, and a reused mapping adds
// no server reference (FileRelease releases the plans the server
// handed, no more).
func TestMmapPlanReuse(t *testing.T) {
	const desc, other = 7, 8
	const handle = "the file's handle"
	const fileID, size = 40, 3
	lease := func(id, epoch uint64) *pb.ReadLease {
		return &pb.ReadLease{Id: id, File: desc, Epoch: epoch, Stat: []byte{1}, Size: size, Data: []byte("abc"), TtlMs: 1000}
	}
	plan := mmapPlan{fileID: fileID, size: size}
	tests := []struct {
		name string
		// sent runs before the mmap is sent, replied between its send
		// and its reply (the plan is then kept), after after it.
		sent, replied, after func(rc *readCache, s leaseStamp)
		// unmapped: the forwarded mmap's mapping is gone before the
		// later mmap.
		unmapped bool
		// askDesc and askSize are what the later mmap maps (0: desc and
		// size).
		askDesc, askSize uint64
		// refreshedTo, when set, is the gen a newer plan of the server
		// file refreshed its pages to after the plan was kept.
		refreshedTo uint64
		// kept: the later mmap finds the plan; reused: it maps from it.
		kept, reused bool
	}{
		{name: "lease held throughout", sent: func(rc *readCache, s leaseStamp) { rc.grant(lease(1, 0), s) }, kept: true, reused: true},
		{name: "another description of the leased file", sent: func(rc *readCache, s leaseStamp) {
			rc.grant(lease(1, 0), s)
			rc.grant(&pb.ReadLease{Id: 1, File: other, Attach: true}, s)
		}, askDesc: other, kept: true, reused: true},
		{name: "no lease before the call", replied: func(rc *readCache, s leaseStamp) { rc.grant(lease(1, 0), s) }},
		{name: "the lease replaced before the reply", sent: func(rc *readCache, s leaseStamp) { rc.grant(lease(1, 0), s) },
			replied: func(rc *readCache, s leaseStamp) {
				rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{1}})
				rc.grant(lease(2, 1), s)
			}},
		{name: "the lease revoked after the plan", sent: func(rc *readCache, s leaseStamp) { rc.grant(lease(1, 0), s) },
			after: func(rc *readCache, _ leaseStamp) { rc.revoke(&pb.LeaseRevoke{Epoch: 1, Ids: []uint64{1}}) }},
		{name: "a recovery after the plan", sent: func(rc *readCache, s leaseStamp) { rc.grant(lease(1, 0), s) },
			after: func(rc *readCache, _ leaseStamp) { rc.dropAll() }},
		{name: "a posted write to the file without a reply", sent: func(rc *readCache, s leaseStamp) { rc.grant(lease(1, 0), s) },
			after: func(rc *readCache, _ leaseStamp) { rc.postBegin(changesFile[unix.SYS_WRITE], handle, 0, 0) }},
		{name: "the server file no longer mapped", sent: func(rc *readCache, s leaseStamp) { rc.grant(lease(1, 0), s) },
			unmapped: true, kept: true},
		{name: "the server file of another size", sent: func(rc *readCache, s leaseStamp) { rc.grant(lease(1, 0), s) },
			askSize: size + 1, kept: true},
		{name: "the server file refreshed to another gen", sent: func(rc *readCache, s leaseStamp) { rc.grant(lease(1, 0), s) },
			refreshedTo: 1, kept: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReadCache(nil)
			var released []uint64
			fc := &fileCache{c: &client{}, files: make(map[uint64]*serverFile), dirtyFiles: make(map[*serverFile]struct{}),
				rpc: func(c *pb.Call) (*pb.Reply, error) {
					released = append(released, c.GetFileRelease().GetFileIds()...)
					return &pb.Reply{}, nil
				}}
			run := func(f func(*readCache, leaseStamp)) {
				if f != nil {
					f(rc, rc.stamp())
				}
			}
			run(tc.sent)
			before := rc.mmapLease(desc, handle)
			run(tc.replied)
			mapped := fc.get(context.Background(), fileID, size, 0, "") // the forwarded mmap's mapping
			rc.keepMmapPlan(before, plan)
			run(tc.after)
			if tc.refreshedTo != 0 {
				mapped.mu.Lock()
				mapped.gen = tc.refreshedTo
				mapped.mu.Unlock()
			}
			if tc.unmapped {
				mapped.DecRef(nil)
			}
			ask, askSize := uint64(desc), uint64(size)
			if tc.askDesc != 0 {
				ask = tc.askDesc
			}
			if tc.askSize != 0 {
				askSize = tc.askSize
			}
			got := rc.keptMmapPlan(ask, handle)
			if (got == plan) != tc.kept || (!tc.kept && got != mmapPlan{}) {
				t.Fatalf("kept plan %+v, want kept %v", got, tc.kept)
			}
			var reused *serverFile
			if got.fileID != 0 {
				reused = fc.reuse(got.fileID, askSize, got.gen)
			}
			if (reused != nil) != tc.reused {
				t.Fatalf("reused %v, want %v", reused != nil, tc.reused)
			}
			if reused != nil {
				reused.DecRef(nil)
			}
			if !tc.unmapped {
				mapped.DecRef(nil)
			}
			// One server reference was handed (the forwarded plan):
			// one is released, once nothing maps the file.
			if len(released) != 1 || released[0] != fileID {
				t.Errorf("FileRelease ids %v, want [%d]", released, fileID)
			}
		})
	}
}
