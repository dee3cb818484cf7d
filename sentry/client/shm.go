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

// shmSegments maps the file ids of attached segments to their shmids.
type shmSegments struct {
	mu sync.Mutex
	// ids: file id -> shmid. Protected by mu.
	ids map[uint64]int32
}

func (s *shmSegments) note(fileID uint64, shmid int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[uint64]int32)
	}
	s.ids[fileID] = shmid
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
	f := t.c.files.get(plan.FileId, plan.Size, fmt.Sprintf("/SYSV%08x (deleted)", uint32(plan.Key)))
	defer f.DecRef(t.gctx)
	opts.Mappable = f
	opts.MappingIdentity = f
	t.c.shm.note(plan.FileId, plan.Shmid)
	at, err := t.mm.MMap(t.gctx, opts)
	if err != nil {
		// Undo the server's count of this attachment.
		t.forwardInternal(unix.SYS_SHMDT, [6]uint64{0, uint64(uint32(plan.Shmid))}, nil)
		if addr != 0 {
			return 0, unix.EINVAL // the range is taken (Linux checks it first)
		}
		return 0, toErrno(err)
	}
	return uint64(at), 0
}

// sysShmdt detaches the segment attached at addr: the mapping that
// starts there and maps a segment from its start.
func sysShmdt(t *task, a [6]uint64) (uint64, unix.Errno) {
	addr := a[0]
	if addr&(hostarch.PageSize-1) != 0 {
		return 0, unix.EINVAL
	}
	var shmid int32
	var end hostarch.Addr
	found := false
	t.mm.ReadMapsDataInto(t.gctx, func(start, e hostarch.Addr, _ hostarch.AccessType, private string, offset uint64, _, _ uint32, inode uint64, _ string) {
		if found || uint64(start) != addr || offset != 0 || private != "s" {
			return
		}
		if id, ok := t.c.shm.lookup(inode); ok {
			shmid, end, found = id, e, true
		}
	})
	if !found {
		return 0, unix.EINVAL
	}
	if err := t.mm.MUnmap(t.gctx, hostarch.Addr(addr), uint64(end)-addr); err != nil {
		return 0, toErrno(err)
	}
	return t.forward(unix.SYS_SHMDT, [6]uint64{addr, uint64(uint32(shmid))})
}
