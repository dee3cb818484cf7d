package client

import (
	"bytes"
	"strings"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/errors/linuxerr"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/mm"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// madvise advice values the linux package does not name.
const (
	madvFree          = 8
	madvKeepOnFork    = 19
	madvPopulateRead  = 22
	madvPopulateWrite = 23
)

// sysMadvise follows mm/madvise.c's checks: unknown advice, an unaligned
// start or a wrapping range is EINVAL; a range with unmapped pages is
// ENOMEM; MADV_DONTNEED and MADV_FREE refuse mlocked mappings, MADV_FREE
// takes private anonymous memory only, and MADV_REMOVE shared mappings
// only (EINVAL without a file, EACCES for a private file mapping).
// MADV_POPULATE_READ and _WRITE fault the range in as accesses would:
// EINVAL where the mapping lacks the permission, EFAULT where the access
// would raise SIGSEGV or SIGBUS.
func sysMadvise(t *task, a [6]uint64) (uint64, unix.Errno) {
	addr, length, advice := hostarch.Addr(a[0]), a[1], a[2]
	switch advice {
	case linux.MADV_NORMAL, linux.MADV_RANDOM, linux.MADV_SEQUENTIAL, linux.MADV_WILLNEED,
		linux.MADV_DONTNEED, madvFree, linux.MADV_REMOVE, linux.MADV_DONTFORK, linux.MADV_DOFORK,
		linux.MADV_MERGEABLE, linux.MADV_UNMERGEABLE, linux.MADV_HUGEPAGE, linux.MADV_NOHUGEPAGE,
		linux.MADV_DONTDUMP, linux.MADV_DODUMP, madvPopulateRead, madvPopulateWrite, madvKeepOnFork:
	default:
		// MADV_WIPEONFORK among them: the client's fork cannot wipe a
		// mapping (docs/COMPATIBILITY.md).
		return 0, unix.EINVAL
	}
	if !addr.IsPageAligned() {
		return 0, unix.EINVAL
	}
	la, ok := hostarch.Addr(length).RoundUp()
	if !ok {
		return 0, unix.EINVAL
	}
	ar, ok := addr.ToRange(uint64(la))
	if !ok {
		return 0, unix.EINVAL
	}
	if ar.Length() == 0 {
		return 0, 0
	}
	switch advice {
	case linux.MADV_DONTNEED:
		// Decommit refuses mlocked mappings and reports holes itself.
		return 0, toErrno(t.mm.Decommit(addr, length))
	case linux.MADV_DONTDUMP, linux.MADV_DODUMP:
		// Kept by the client (dontdump.go); ENOMEM for a hole, after
		// the mapped pages took the advice, as Linux's madvise_walk_vmas.
		t.proc.setDontDump(ar, advice == linux.MADV_DONTDUMP)
		return 0, mappedThrough(t.mm, ar)
	case linux.MADV_DOFORK:
		return 0, toErrno(t.mm.SetDontFork(addr, length, false))
	case linux.MADV_DONTFORK:
		return 0, toErrno(t.mm.SetDontFork(addr, length, true))
	case madvFree:
		// Private anonymous memory only: nothing a Mappable maps
		// (mapindex.go), in a lookup of the range, not of every mapping.
		if len(t.c.mapIndex.in(t.mm, ar)) != 0 {
			return 0, unix.EINVAL
		}
		// Freeing at once is one of the outcomes MADV_FREE allows; an
		// mlocked mapping is EINVAL there.
		return 0, toErrno(t.mm.Decommit(addr, length))
	case linux.MADV_REMOVE:
		mapped := t.c.mapIndex.in(t.mm, ar)
		if errno := madviseRemoveCheck(t.mm, mapped, ar); errno != 0 {
			return 0, errno
		}
		// Decommit refuses mlocked mappings (EINVAL).
		if err := t.mm.Decommit(addr, length); err != nil {
			return 0, toErrno(err)
		}
		// Shared anonymous memory reads back as zeros, in every
		// mapping of it; a file's hole is not punched
		// (docs/COMPATIBILITY.md).
		for _, r := range mapped {
			if m, ok := r.mappable.(*anonShared); ok {
				m.zero(memmap.MappableRange{Start: r.off, End: r.off + uint64(r.Length())})
			}
		}
		return 0, 0
	case madvPopulateRead, madvPopulateWrite:
		if errno := mappedThrough(t.mm, ar); errno != 0 {
			return 0, errno
		}
		at, need := hostarch.Read, uint32(4)
		if advice == madvPopulateWrite {
			at, need = hostarch.Write, 2
		}
		for _, v := range vmasIn(t.mm, ar, false) {
			if v.Perms&need == 0 {
				// Linux: faultin_vma_page_range reports a
				// mapping's missing permission as EINVAL.
				return 0, unix.EINVAL
			}
		}
		for p := ar.Start; p < ar.End; p += hostarch.PageSize {
			if err := t.mm.HandleUserFault(t.gctx, p, at, 0); err != nil {
				if linuxerr.Equals(linuxerr.ENOMEM, err) {
					return 0, unix.ENOMEM
				}
				// Linux: a fault that would raise SIGSEGV or SIGBUS.
				return 0, unix.EFAULT
			}
			// The fault gave the page a pma, but a fresh private
			// anonymous pma's memory is committed only by an access to
			// it: a load through the sentry's mapping of the memory
			// file commits it, as Linux's populate makes the page
			// present (resident to mincore). It changes nothing, and
			// it cannot fail where the fault did not, but for a
			// racing munmap or truncation, which Linux's may meet too.
			t.mm.LoadUint32(t.gctx, p, usermem.IOOpts{IgnorePermissions: true})
		}
		return 0, 0
	}
	// The rest are hints the client's memory has no use for.
	return 0, mappedThrough(t.mm, ar)
}

// madviseRemoveCheck is MADV_REMOVE's check of each mapping of ar in
// order, given the parts of ar that Mappables map (mapped): private
// anonymous memory is EINVAL, a mapping that is not shared and writable
// EACCES.
func madviseRemoveCheck(m *mm.MemoryManager, mapped []mappedRange, ar hostarch.AddrRange) unix.Errno {
	if m.VirtualMemorySizeRange(ar) != uint64(ar.Length()) {
		// Holes (ENOMEM from Decommit, unless a mapping fails first):
		// mm cannot say where the next mapping starts, so the
		// mappings come from the whole list (rare: a hole is an error).
		for _, v := range vmasIn(m, ar, false) {
			switch {
			case !v.Shared && v.FileId == 0 && string(v.Name) != anonSharedName:
				return unix.EINVAL
			case !v.Shared:
				return unix.EACCES
			}
		}
		return 0
	}
	for p := ar.Start; p < ar.End; {
		vr, err := m.FindVMARange(p)
		if err != nil {
			return unix.ENOMEM
		}
		vr = vr.Intersect(ar)
		covered := false
		for _, r := range mapped {
			if r.Overlaps(vr) {
				if !r.sharedWritable {
					return unix.EACCES
				}
				covered = true
			}
		}
		if !covered {
			return unix.EINVAL
		}
		p = vr.End
	}
	return 0
}

// anonSharedName is what /proc/<pid>/maps names shared anonymous memory.
const anonSharedName = "/dev/zero (deleted)"

// mappedThrough returns ENOMEM if a page of ar is not mapped.
func mappedThrough(m *mm.MemoryManager, ar hostarch.AddrRange) unix.Errno {
	for p := ar.Start; p < ar.End; {
		vr, err := m.FindVMARange(p)
		if err != nil {
			return unix.ENOMEM
		}
		p = vr.End
	}
	return 0
}

// vmasIn returns m's mappings that overlap ar, with their smaps lines
// if withSmaps (which walks every page table entry: only rare calls ask).
func vmasIn(m *mm.MemoryManager, ar hostarch.AddrRange, withSmaps bool) []*pb.VMA {
	var all []*pb.VMA
	if withSmaps {
		all = smapsVMAs(m)
	} else {
		var b bytes.Buffer
		m.ReadMapsDataInto(context.Background(), m.MapsCallbackFuncForBuffer(&b))
		for _, line := range strings.SplitAfter(b.String(), "\n") {
			if v := parseMapsLine(line); v != nil {
				all = append(all, v)
			}
		}
	}
	var out []*pb.VMA
	for _, v := range all {
		if v.Start < uint64(ar.End) && v.End > uint64(ar.Start) {
			out = append(out, v)
		}
	}
	return out
}
