package client

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
)

// remap_file_pages(2) is served as Linux 4.0+ emulates it (mm/mmap.c):
// no nonlinear mappings, but a new MAP_SHARED|MAP_FIXED mapping of the
// vma's file at the given page offset, with the vma's protection and
// lock, populated unless MAP_NONBLOCK. The vma's file is the Mappable
// the client's mappableIndex names for the address: a server file (a
// regular file or a SysV segment) or shared anonymous memory, which are
// all that a VM_SHARED vma can map here.
//
// gVisor's mm offers no lookup of a vma's flags, so they are read from
// its smaps (VmFlags), and the remap is an mm.MMap of its own: another
// thread's mmap between the two is not excluded as Linux's mmap lock
// excludes it (Linux too looks the vma up under the read lock, then
// checks it again under the write lock; here the new mapping is made
// from what the lookup saw).

// rfpVMA is what remap_file_pages needs of a vma, from its smaps entry.
type rfpVMA struct {
	hostarch.AddrRange
	// perms and maxPerms are the vma's protection and what mprotect may
	// grant it (VmFlags rd wr ex, mr mw me).
	perms, maxPerms hostarch.AccessType
	// shared is VM_SHARED (VmFlags sh: a MAP_SHARED vma that may be
	// written, its file open for writing).
	shared bool
	// locked is VM_LOCKED (lo).
	locked bool
	// flags is the VmFlags line, compared between vmas as Linux compares
	// vm_flags.
	flags string
}

// vmasIn returns the vmas of t's address space that overlap ar, in order.
func (t *task) vmasIn(ar hostarch.AddrRange) ([]rfpVMA, error) {
	var buf bytes.Buffer
	t.mm.ReadSmapsDataInto(t.gctx, &buf)
	var out []rfpVMA
	var cur *rfpVMA
	for _, line := range strings.Split(buf.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			if cur == nil {
				return nil, fmt.Errorf("VmFlags without a vma: %q", line)
			}
			for _, f := range strings.Fields(rest) {
				switch f {
				case "rd":
					cur.perms.Read = true
				case "wr":
					cur.perms.Write = true
				case "ex":
					cur.perms.Execute = true
				case "mr":
					cur.maxPerms.Read = true
				case "mw":
					cur.maxPerms.Write = true
				case "me":
					cur.maxPerms.Execute = true
				case "sh":
					cur.shared = true
				case "lo":
					cur.locked = true
				}
			}
			cur.flags = strings.TrimSpace(rest)
			if cur.End > ar.Start && cur.Start < ar.End {
				out = append(out, *cur)
			}
			cur = nil
			continue
		}
		if cur != nil || line == "" {
			continue // a field of the entry
		}
		// The entry's first line: "start-end perms offset dev inode path".
		var start, end uint64
		if _, err := fmt.Sscanf(line, "%x-%x", &start, &end); err != nil {
			return nil, fmt.Errorf("smaps entry %q: %w", line, err)
		}
		cur = &rfpVMA{AddrRange: hostarch.AddrRange{Start: hostarch.Addr(start), End: hostarch.Addr(end)}}
	}
	return out, nil
}

func sysRemapFilePages(t *task, a [6]uint64) (uint64, unix.Errno) {
	start, size, prot, pgoff, flags := a[0], a[1], a[2], a[3], a[4]
	if prot != 0 {
		return 0, unix.EINVAL
	}
	// Rounded down, both: a size below a page is none, and refused.
	start &^= hostarch.PageSize - 1
	size &^= hostarch.PageSize - 1
	if start+size <= start {
		return 0, unix.EINVAL
	}
	if pgoff+size>>hostarch.PageShift < pgoff {
		return 0, unix.EINVAL
	}
	ar := hostarch.AddrRange{Start: hostarch.Addr(start), End: hostarch.Addr(start + size)}
	vmas, err := t.vmasIn(ar)
	if err != nil {
		t.c.log.Error("remap_file_pages: reading the address space's vmas failed", "err", err)
		return 0, unix.EINVAL
	}
	// The vma at start must be VM_SHARED, and the range covered by it
	// and the vmas after it without a hole, each of the same file and
	// flags (Linux's order: a later vma's hole, file, then flags).
	if len(vmas) == 0 || vmas[0].Start > ar.Start || !vmas[0].shared {
		return 0, unix.EINVAL
	}
	vma := vmas[0]
	id := t.c.mapIndex.heldAt(t.mm, ar.Start)
	if id == nil {
		// Not a mapping of a Mappable the client made: none that is
		// VM_SHARED, but Linux would refuse a vma without VM_SHARED so.
		return 0, unix.EINVAL
	}
	defer id.DecRef(t.gctx)
	mappable, ok := id.(memmap.Mappable)
	if !ok {
		return 0, unix.EINVAL
	}
	mapped := t.c.mapIndex.in(t.mm, ar)
	for i, next := range vmas[1:] {
		if next.Start != vmas[i].End {
			return 0, unix.EINVAL
		}
		if !mapsAll(mapped, next.Intersect(ar), mappable) {
			return 0, unix.EINVAL
		}
		if next.flags != vma.flags {
			return 0, unix.EINVAL
		}
	}
	if vmas[len(vmas)-1].End < ar.End {
		return 0, unix.EINVAL
	}
	// do_mmap's check of a regular file's (shmem's too) largest offset,
	// MAX_LFS_FILESIZE, after the vmas'.
	if pgoff > (math.MaxInt64-size)>>hostarch.PageShift {
		return 0, unix.EOVERFLOW
	}
	// The changes of SysV segments' mappings are reported as the other
	// memory calls' are (shm.go), but by this call itself: a removed
	// segment's may be reported before the mapping is made.
	var shmBefore map[int32]int
	if t.c.shm.active() {
		shmBefore = t.shmMappings()
		defer func() { t.reportShmChanges(shmBefore) }()
	}
	if f, ok := mappable.(*serverFile); ok && shmBefore != nil {
		if shmid, ok := t.c.shm.lookup(f.id); ok && t.shmState(shmid) != 0 {
			// Linux maps a segment again through its id (shm_mmap),
			// after unmapping the range (MAP_FIXED): a segment removed
			// with IPC_RMID is destroyed if that took its last mapping,
			// and the call fails with the range left unmapped.
			if err := t.mm.MUnmap(t.gctx, ar.Start, size); err != nil {
				return 0, toErrno(err)
			}
			t.reportShmChanges(shmBefore)
			shmBefore = t.shmMappings()
			if t.shmState(shmid) == unix.EINVAL {
				return 0, unix.EINVAL
			}
		}
	}
	opts := memmap.MMapOpts{
		Length:          size,
		Offset:          pgoff << hostarch.PageShift,
		Addr:            ar.Start,
		Fixed:           true,
		Unmap:           true,
		Perms:           vma.perms,
		MaxPerms:        vma.maxPerms,
		Mappable:        mappable,
		MappingIdentity: id,
	}
	if _, ok := mappable.(*anonShared); ok {
		opts.NameMut = memmap.NameMutAnonShmem
	}
	if flags&linux.MAP_NONBLOCK == 0 {
		opts.PlatformEffect = memmap.PlatformEffectCommit // MAP_POPULATE
	}
	if vma.locked {
		// MAP_LOCKED, which populates even with MAP_NONBLOCK.
		opts.MLockMode = memmap.MLockEager
		opts.PlatformEffect = memmap.PlatformEffectCommit
	}
	if _, err := t.mm.MMap(t.gctx, opts); err != nil {
		return 0, toErrno(err)
	}
	return 0, 0
}

// mapsAll says whether mapped (mappableIndex.in's answer, in order)
// maps all of ar from m.
func mapsAll(mapped []mappedRange, ar hostarch.AddrRange, m memmap.Mappable) bool {
	at := ar.Start
	for _, r := range mapped {
		if r.End <= at || r.Start >= ar.End {
			continue
		}
		if r.Start > at || r.mappable != m {
			return false
		}
		at = r.End
	}
	return at >= ar.End
}

// shmState asks the server whether SysV segment shmid may still be
// mapped: 0 if so, EIDRM if it was removed but is still attached,
// EINVAL if it is gone (or the server cannot say).
func (t *task) shmState(shmid int32) unix.Errno {
	reply := t.forwardInternal(unix.SYS_SHMDT, [6]uint64{0, uint64(uint32(shmid)), 0}, nil)
	if reply == nil {
		return unix.EINVAL
	}
	return unix.Errno(reply.Errno)
}
