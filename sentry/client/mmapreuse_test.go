package client

import (
	"slices"
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
			mapped := fc.get(context.Background(), fileID, size, 0, "", nil) // the forwarded mmap's mapping
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
				reused, _ = fc.reuse(got.fileID, askSize, got.gen)
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

// TestMmapPlanReplan reuses a kept plan of a file no process maps any
// more (fileCache.reuse): only a file cached whole is mapped, and the
// mapping asks for the server's reference again (replan: the caller
// posts the mmap); its reply (fileCache.replanned) is counted as the
// file's plan only if it names the same id, size and gen while a process
// still maps the file, and is released at once otherwise. Whatever
// happens, each reference the server handed is released once, when
// nothing maps the file (or at once), and a recovery before the reply
// leaves the file unknown to later plans (a restored server may hand its
// id to another file).
func TestMmapPlanReplan(t *testing.T) {
	const fileID, size, otherID = 40, 3, 41
	plan := mmapPlan{fileID: fileID, size: size}
	tests := []struct {
		name string
		// whole: the file's pages are all cached; stillMapped: the
		// forwarded plan's mapping is still held at the reuse.
		whole, stillMapped bool
		// before runs after the reuse and before the reply; reply is
		// the posted mmap's plan.
		before func(fc *fileCache, reused *serverFile)
		reply  mmapPlan
		// reused and replan are what reuse returns; counted: the reply
		// is the reused file's plan; superseded: a later plan of the id
		// finds another file.
		reused, replan, counted, superseded bool
	}{
		{name: "idle, cached whole, the same plan back", whole: true, reply: plan, reused: true, replan: true, counted: true},
		{name: "idle, not cached whole", reply: plan},
		{name: "still mapped: no call", stillMapped: true, reply: plan, reused: true},
		{name: "idle, the file changed: another id", whole: true, reply: mmapPlan{fileID: otherID, size: size + 1}, reused: true, replan: true},
		{name: "idle, the file changed: the same id at another gen", whole: true, reply: mmapPlan{fileID: fileID, size: size, gen: 1}, reused: true, replan: true},
		{name: "unmapped before the reply", whole: true, reply: plan, reused: true, replan: true,
			before: func(fc *fileCache, reused *serverFile) { reused.DecRef(nil) }},
		{name: "a recovery before the reply", whole: true, reply: plan, reused: true, replan: true, superseded: true,
			before: func(fc *fileCache, _ *serverFile) { fc.forgetIdle() }},
		{name: "reused again before the reply: no call", whole: true, reply: plan, reused: true, replan: true, counted: true,
			before: func(fc *fileCache, _ *serverFile) {
				again, replan := fc.reuse(plan.fileID, plan.size, plan.gen)
				if again == nil || replan {
					t.Errorf("a reuse while the replan is in flight: file %v, replan %v; want the file, no replan", again != nil, replan)
				}
				if again != nil {
					again.DecRef(nil)
				}
			}},
		{name: "the posted mmap failed", whole: true, reply: mmapPlan{}, reused: true, replan: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var released []uint64
			fc := &fileCache{c: &client{}, files: make(map[uint64]*serverFile), dirtyFiles: make(map[*serverFile]struct{}),
				rpc: func(c *pb.Call) (*pb.Reply, error) {
					released = append(released, c.GetFileRelease().GetFileIds()...)
					return &pb.Reply{}, nil
				}}
			handed := []uint64{fileID} // the forwarded mmap's plan
			mapped := fc.get(context.Background(), fileID, size, 0, "", nil)
			if tc.whole {
				mapped.mu.Lock()
				mapped.filled, mapped.nfilled = []uint64{1}, 1
				mapped.mu.Unlock()
			}
			if !tc.stillMapped {
				mapped.DecRef(nil)
			}
			reused, replan := fc.reuse(plan.fileID, plan.size, plan.gen)
			if (reused != nil) != tc.reused || replan != tc.replan {
				t.Fatalf("reuse: file %v, replan %v; want %v, %v", reused != nil, replan, tc.reused, tc.replan)
			}
			if reused != nil && reused != mapped {
				t.Fatalf("reuse returned another file")
			}
			unmappedEarly := false
			if replan {
				if tc.before != nil {
					tc.before(fc, reused)
					unmappedEarly = reused.refs == 0
				}
				if tc.reply.fileID != 0 {
					handed = append(handed, tc.reply.fileID)
				}
				fc.replanned(reused, tc.reply)
				fc.mu.Lock()
				plans, replans := reused.plans, reused.replans
				fc.mu.Unlock()
				if replans != 0 {
					t.Errorf("%d replans in flight after the reply, want 0", replans)
				}
				if got := plans == 1; got != tc.counted {
					t.Errorf("the reply counted as the file's plan: %v, want %v", got, tc.counted)
				}
			}
			if got := fc.files[fileID] != mapped; got != tc.superseded {
				t.Errorf("superseded %v, want %v", got, tc.superseded)
			}
			if reused != nil && !unmappedEarly {
				reused.DecRef(nil)
			}
			if tc.stillMapped {
				mapped.DecRef(nil)
			}
			if !slices.Equal(sorted(released), sorted(handed)) {
				t.Errorf("FileRelease ids %v, want one per plan handed %v", released, handed)
			}
		})
	}
}

func sorted(s []uint64) []uint64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestKeptPlanMmapKinds says which mmaps a kept plan may serve: private
// ones, and shared ones that can never write (no PROT_WRITE, of a
// description open read-only; glibc's gconv-modules.cache).
func TestKeptPlanMmapKinds(t *testing.T) {
	const prot, rw = unix.PROT_READ, unix.PROT_READ | unix.PROT_WRITE
	tests := []struct {
		name           string
		prot, flags    uint64
		length, offset uint64
		private, ro    bool
	}{
		{name: "private", prot: prot, flags: unix.MAP_PRIVATE, length: 4096, private: true},
		{name: "private writable", prot: rw, flags: unix.MAP_PRIVATE, length: 4096, private: true},
		{name: "shared read-only", prot: prot, flags: unix.MAP_SHARED, length: 4096, ro: true},
		{name: "shared writable", prot: rw, flags: unix.MAP_SHARED, length: 4096},
		{name: "shared validate", prot: prot, flags: unix.MAP_SHARED_VALIDATE, length: 4096},
		{name: "shared anonymous", prot: prot, flags: unix.MAP_SHARED | unix.MAP_ANONYMOUS, length: 4096},
		{name: "shared hugetlb", prot: prot, flags: unix.MAP_SHARED | unix.MAP_HUGETLB, length: 4096},
		{name: "shared unaligned offset", prot: prot, flags: unix.MAP_SHARED, length: 4096, offset: 100},
		{name: "shared empty", prot: prot, flags: unix.MAP_SHARED},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := [6]uint64{0, tc.length, tc.prot, tc.flags, 3, tc.offset}
			if got := privateMmapOf(a); got != tc.private {
				t.Errorf("privateMmapOf = %v, want %v", got, tc.private)
			}
			if got := readOnlySharedMmapOf(a); got != tc.ro {
				t.Errorf("readOnlySharedMmapOf = %v, want %v", got, tc.ro)
			}
		})
	}
}
