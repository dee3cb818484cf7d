package client

import (
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
)

// pageBits is a set of file pages, a bit per page: the dirty pages of a
// shared file mapping. Its zero value is empty; it grows as pages are
// added. It is not safe for concurrent use (serverFile.mu protects it).
type pageBits struct {
	words []uint64
	// n counts the pages in the set.
	n int
}

// pageRange returns the pages [first, end) that overlap mr.
func pageRange(mr memmap.MappableRange) (first, end uint64) {
	first = mr.Start / hostarch.PageSize
	end = (mr.End + hostarch.PageSize - 1) / hostarch.PageSize
	return first, end
}

func (b *pageBits) has(p uint64) bool {
	w := p / 64
	return w < uint64(len(b.words)) && b.words[w]&(1<<(p%64)) != 0
}

// add puts every page overlapping mr in the set and returns how many were
// not in it before.
func (b *pageBits) add(mr memmap.MappableRange) int {
	first, end := pageRange(mr)
	if end == 0 || first >= end {
		return 0
	}
	if need := int((end + 63) / 64); need > len(b.words) {
		b.words = append(b.words, make([]uint64, need-len(b.words))...)
	}
	added := 0
	for p := first; p < end; p++ {
		if m := uint64(1) << (p % 64); b.words[p/64]&m == 0 {
			b.words[p/64] |= m
			added++
		}
	}
	b.n += added
	return added
}

// take removes the pages of the set that overlap mr and returns them as
// maximal runs of contiguous pages (byte ranges), in increasing order.
func (b *pageBits) take(mr memmap.MappableRange) []memmap.MappableRange {
	first, end := pageRange(mr)
	if lim := uint64(len(b.words)) * 64; end > lim {
		end = lim
	}
	var runs []memmap.MappableRange
	for p := first; p < end; p++ {
		if b.words[p/64] == 0 && p%64 == 0 {
			p += 63
			continue
		}
		if !b.has(p) {
			continue
		}
		b.words[p/64] &^= 1 << (p % 64)
		b.n--
		start := p * hostarch.PageSize
		if k := len(runs); k > 0 && runs[k-1].End == start {
			runs[k-1].End += hostarch.PageSize
		} else {
			runs = append(runs, memmap.MappableRange{Start: start, End: start + hostarch.PageSize})
		}
	}
	return runs
}

// count returns the number of pages in the set.
func (b *pageBits) count() int { return b.n }
