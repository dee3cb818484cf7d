package client

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// SysV shared memory: the server keeps the segments (ids, permissions,
// attach counts); a segment's memory is a server file that shmat maps
// shared through the client's page cache, like a MAP_SHARED mmap. The
// client remembers which mapped file ids are segments, so that shmdt can
// find the segment attached at an address in the address space itself
// (fork copies it, exec drops it).

// shmSegments maps the file ids of attached segments to their shmids
// and sizes (whole pages).
type shmSegments struct {
	mu sync.Mutex
	// ids and sizes are keyed by file id. Protected by mu.
	ids   map[uint64]int32
	sizes map[uint64]uint64
}

func (s *shmSegments) note(fileID uint64, shmid int32, size uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[uint64]int32)
		s.sizes = make(map[uint64]uint64)
	}
	s.ids[fileID] = shmid
	s.sizes[fileID] = size
}

func (s *shmSegments) sizeOf(fileID uint64) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sizes[fileID]
}

// active says some segment was attached (only then do memory calls
// count segment mappings).
func (s *shmSegments) active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids) > 0
}

func (s *shmSegments) lookup(fileID uint64) (int32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.ids[fileID]
	return id, ok
}

// applyShmAttach maps the segment of a successful shmat(shmid, addr,
// flags) and returns the address.
func (t *task) applyShmAttach(a [6]uint64, plan *pb.ShmAttachPlan) (uint64, unix.Errno) {
	addr, flags := a[1], int32(a[2])
	remap := flags&linux.SHM_REMAP != 0
	opts := memmap.MMapOpts{
		Length:   (plan.Size + hostarch.PageSize - 1) &^ (hostarch.PageSize - 1),
		Private:  false,
		Perms:    hostarch.AccessType{Read: true, Write: !plan.Readonly, Execute: flags&linux.SHM_EXEC != 0},
		MaxPerms: hostarch.AccessType{Read: true, Write: !plan.Readonly, Execute: true},
	}
	if addr != 0 {
		opts.Addr = hostarch.Addr(addr &^ (hostarch.PageSize - 1))
		opts.Fixed = true
		opts.Unmap = remap
		opts.NoReplace = !remap
	}
	f := t.c.files.get(t.gctx, plan.FileId, plan.Size, plan.FileGen, fmt.Sprintf("/SYSV%08x (deleted)", uint32(plan.Key)), nil)
	defer f.DecRef(t.gctx)
	opts.Mappable = f
	opts.MappingIdentity = f
	t.c.shm.note(plan.FileId, plan.Shmid, opts.Length)
	var before map[int32]int
	if remap {
		before = t.shmMappings() // SHM_REMAP may replace segments' mappings
	}
	at, err := t.mm.MMap(t.gctx, opts)
	if err != nil {
		// Undo the server's count of this attachment.
		t.reportShm(plan.Shmid, -1)
		if addr != 0 {
			return 0, unix.EINVAL // the range is taken (Linux checks it first)
		}
		return 0, toErrno(err)
	}
	if before != nil {
		before[plan.Shmid]++ // the server counted the new mapping
		t.reportShmChanges(before)
	}
	return uint64(at), 0
}

// shmMappings counts the mappings of each segment in t's address space.
func (t *task) shmMappings() map[int32]int {
	counts := make(map[int32]int)
	t.mm.ReadMapsDataInto(t.gctx, func(_, _ hostarch.Addr, _ hostarch.AccessType, private string, _ uint64, _, _ uint32, inode uint64, _ string) {
		if private != "s" {
			return
		}
		if id, ok := t.c.shm.lookup(inode); ok {
			counts[id]++
		}
	})
	return counts
}

// reportShmChanges tells the server how the counts of segment mappings
// changed since before (a shmMappings result), as Linux counts a
// segment's mappings in shm_nattch.
func (t *task) reportShmChanges(before map[int32]int) {
	after := t.shmMappings()
	for id, n := range after {
		if d := n - before[id]; d != 0 {
			t.reportShm(id, d)
		}
	}
	for id, n := range before {
		if _, ok := after[id]; !ok && n != 0 {
			t.reportShm(id, -n)
		}
	}
}

// reportShm changes the server's count of segment shmid's mappings in
// t's process by delta.
func (t *task) reportShm(shmid int32, delta int) {
	t.forwardInternal(unix.SYS_SHMDT, [6]uint64{0, uint64(uint32(shmid)), uint64(int64(delta))}, nil)
}

// vmaCalls are the memory calls that may remove or split segment
// mappings; while segments exist, the client counts around them
// (remap_file_pages counts for itself: remapfilepages.go).
var vmaCalls = map[uintptr]bool{
	unix.SYS_MMAP: true, unix.SYS_MUNMAP: true, unix.SYS_MREMAP: true,
	unix.SYS_MPROTECT: true, unix.SYS_MADVISE: true,
}

// sysShmdt detaches the segment attached at addr, as Linux: the first
// mapping at or above addr of a segment mapped there from its start
// (offset = its distance from addr), and every later mapping of that
// segment within the segment's size from addr that is mapped the same
// way. Then it tells the server how many went.
func sysShmdt(t *task, a [6]uint64) (uint64, unix.Errno) {
	addr := a[0]
	if addr&(hostarch.PageSize-1) != 0 {
		return 0, unix.EINVAL
	}
	type vma struct {
		start, end hostarch.Addr
		off        uint64
		file       uint64
	}
	var vmas []vma
	t.mm.ReadMapsDataInto(t.gctx, func(start, end hostarch.Addr, _ hostarch.AccessType, private string, offset uint64, _, _ uint32, inode uint64, _ string) {
		if uint64(start) >= addr && private == "s" {
			if _, ok := t.c.shm.lookup(inode); ok {
				vmas = append(vmas, vma{start, end, offset, inode})
			}
		}
	})
	var first *vma
	for i := range vmas {
		if uint64(vmas[i].start)-addr == vmas[i].off {
			first = &vmas[i]
			break
		}
	}
	if first == nil {
		return 0, unix.EINVAL
	}
	shmid, _ := t.c.shm.lookup(first.file)
	size := t.c.shm.sizeOf(first.file)
	removed := 0
	for _, v := range vmas {
		if v.file != first.file || v.start < first.start || uint64(v.end)-addr > size || uint64(v.start)-addr != v.off {
			continue
		}
		if err := t.mm.MUnmap(t.gctx, v.start, uint64(v.end-v.start)); err != nil {
			return 0, toErrno(err)
		}
		removed++
	}
	t.reportShm(shmid, -removed)
	return 0, 0
}
