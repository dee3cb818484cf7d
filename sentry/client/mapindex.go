package client

import (
	"sort"
	"sync"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
)

// mappableIndex answers, for a range of an address space, which parts
// are mapped by one of the client's Mappables (a file, private or shared,
// SysV shared memory, shared anonymous memory) and which of those are
// shared and may be written (Linux's VM_SHARED|VM_MAYWRITE): the rest of
// the mapped range is private anonymous memory. gVisor's mm offers no
// such per-range query (only the whole maps list), so the index is kept
// from the AddMapping, RemoveMapping and CopyMapping calls mm makes on
// every Mappable it maps, which name the address space, the range and
// whether the mapping is shared-writable. madvise's MADV_FREE and
// MADV_REMOVE ask it (madvise.go): a lookup is a binary search in the
// address space's few mapped ranges, not a rendering of every mapping.
//
// mu is a leaf lock: the Mappables call in under mm's locks, and the
// index calls nothing.
type mappableIndex struct {
	mu sync.Mutex
	// spaces are the mapped ranges of each address space, sorted and
	// disjoint (vmas do not overlap). Protected by mu; an address space
	// with none has no entry.
	spaces map[memmap.MappingSpace][]mappedRange
}

// mappedRange is a range of an address space a Mappable maps.
type mappedRange struct {
	hostarch.AddrRange
	// sharedWritable: a MAP_SHARED mapping that may be written
	// (AddMapping's writable).
	sharedWritable bool
	// mappable maps the range from its offset off.
	mappable memmap.Mappable
	off      uint64
}

// offsetAt is the mappable's offset at addr, which r contains.
func (r mappedRange) offsetAt(addr hostarch.Addr) uint64 { return r.off + uint64(addr-r.Start) }

// add records that ms maps ar from mappable's offset off.
func (x *mappableIndex) add(ms memmap.MappingSpace, ar hostarch.AddrRange, sharedWritable bool, mappable memmap.Mappable, off uint64) {
	if ar.Length() == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.spaces == nil {
		x.spaces = make(map[memmap.MappingSpace][]mappedRange)
	}
	rs := cutRanges(x.spaces[ms], ar) // a stale overlap cannot outlive a new mapping
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Start >= ar.End })
	rs = append(rs, mappedRange{})
	copy(rs[i+1:], rs[i:])
	rs[i] = mappedRange{ar, sharedWritable, mappable, off}
	x.spaces[ms] = rs
}

// remove records that ms no longer maps ar.
func (x *mappableIndex) remove(ms memmap.MappingSpace, ar hostarch.AddrRange) {
	x.mu.Lock()
	defer x.mu.Unlock()
	rs := cutRanges(x.spaces[ms], ar)
	if len(rs) == 0 {
		delete(x.spaces, ms)
		return
	}
	x.spaces[ms] = rs
}

// cutRanges removes ar from rs (sorted, disjoint), splitting a range
// that straddles it, and returns the result.
func cutRanges(rs []mappedRange, ar hostarch.AddrRange) []mappedRange {
	lo := sort.Search(len(rs), func(i int) bool { return rs[i].End > ar.Start })
	hi := sort.Search(len(rs), func(i int) bool { return rs[i].Start >= ar.End })
	if lo >= hi {
		return rs
	}
	var keep []mappedRange
	if first := rs[lo]; first.Start < ar.Start {
		keep = append(keep, mappedRange{hostarch.AddrRange{Start: first.Start, End: ar.Start}, first.sharedWritable, first.mappable, first.off})
	}
	if last := rs[hi-1]; last.End > ar.End {
		keep = append(keep, mappedRange{hostarch.AddrRange{Start: ar.End, End: last.End}, last.sharedWritable, last.mappable, last.offsetAt(ar.End)})
	}
	out := append(rs[:lo:lo], keep...)
	return append(out, rs[hi:]...)
}

// in returns the parts of ar that ms maps through a Mappable, in order.
func (x *mappableIndex) in(ms memmap.MappingSpace, ar hostarch.AddrRange) []mappedRange {
	x.mu.Lock()
	defer x.mu.Unlock()
	rs := x.spaces[ms]
	lo := sort.Search(len(rs), func(i int) bool { return rs[i].End > ar.Start })
	var out []mappedRange
	for _, r := range rs[lo:] {
		if r.Start >= ar.End {
			break
		}
		in := r.Intersect(ar)
		out = append(out, mappedRange{in, r.sharedWritable, r.mappable, r.offsetAt(in.Start)})
	}
	return out
}

// heldAt returns the Mappable mapping addr in ms, with a reference on it as a memmap.MappingIdentity (nil if nothing the
// index knows maps addr, or its Mappable is not one). The reference is
// taken under mu: while the index lists the range, its vma holds a
// reference (mm drops a vma's only after RemoveMapping), so the count is
// not zero; an idle serverFile must never be revived by a bare IncRef.
// This makes mu, otherwise a leaf, come before fileCache.mu.
func (x *mappableIndex) heldAt(ms memmap.MappingSpace, addr hostarch.Addr) memmap.MappingIdentity {
	x.mu.Lock()
	defer x.mu.Unlock()
	rs := x.spaces[ms]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].End > addr })
	if i == len(rs) || rs[i].Start > addr {
		return nil
	}
	id, ok := rs[i].mappable.(memmap.MappingIdentity)
	if !ok {
		return nil
	}
	id.IncRef()
	return id
}
