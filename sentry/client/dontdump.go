package client

import (
	"cmp"
	"slices"

	"gvisor.dev/gvisor/pkg/hostarch"
)

// madvise(MADV_DONTDUMP) and MADV_DODUMP: Linux's VM_DONTDUMP keeps a
// mapping out of the core file. gVisor's mm accepts the advice and keeps
// nothing, so the client keeps the marked ranges itself, per process
// (process.dontDump): MADV_DODUMP clears them, munmap and a new mapping
// over a range drop them (a new vma has no VM_DONTDUMP), fork copies
// them and exec drops them. mremap does not carry them to the moved
// mapping (Linux does).

// setDontDump marks (on) or clears ar.
func (p *process) setDontDump(ar hostarch.AddrRange, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dontDump = subtractRange(p.dontDump, ar)
	if on {
		p.dontDump = append(p.dontDump, ar)
		slices.SortFunc(p.dontDump, func(a, b hostarch.AddrRange) int { return cmp.Compare(a.Start, b.Start) })
	}
}

// clearDontDump drops the marks of ar (unmapped, or mapped anew).
func (p *process) clearDontDump(ar hostarch.AddrRange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.dontDump) != 0 {
		p.dontDump = subtractRange(p.dontDump, ar)
	}
}

// subtractRange returns rs without ar.
func subtractRange(rs []hostarch.AddrRange, ar hostarch.AddrRange) []hostarch.AddrRange {
	var out []hostarch.AddrRange
	for _, r := range rs {
		if !r.Overlaps(ar) {
			out = append(out, r)
			continue
		}
		if r.Start < ar.Start {
			out = append(out, hostarch.AddrRange{Start: r.Start, End: ar.Start})
		}
		if r.End > ar.End {
			out = append(out, hostarch.AddrRange{Start: ar.End, End: r.End})
		}
	}
	return out
}

// dontDumpCopy returns a copy of p's marks (fork).
func (p *process) dontDumpCopy() []hostarch.AddrRange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.dontDump)
}

// splitDontDump splits vmas where the marks begin and end, as Linux's
// madvise splits a vma, and marks the pieces they cover.
func (p *process) splitDontDump(vmas []coreVMA) []coreVMA {
	p.mu.Lock()
	marks := slices.Clone(p.dontDump)
	p.mu.Unlock()
	if len(marks) == 0 {
		return vmas
	}
	var out []coreVMA
	for _, v := range vmas {
		cuts := []uint64{v.start}
		for _, m := range marks {
			for _, a := range []uint64{uint64(m.Start), uint64(m.End)} {
				if a > v.start && a < v.end {
					cuts = append(cuts, a)
				}
			}
		}
		cuts = append(cuts, v.end)
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
		for i := 0; i+1 < len(cuts); i++ {
			piece := v
			piece.start, piece.end = cuts[i], cuts[i+1]
			if piece.fileID != 0 || piece.inode != 0 {
				piece.offset = v.offset + (cuts[i] - v.start)
			}
			ar := hostarch.AddrRange{Start: hostarch.Addr(piece.start), End: hostarch.Addr(piece.end)}
			for _, m := range marks {
				if m.IsSupersetOf(ar) {
					piece.dontDump = true
				}
			}
			out = append(out, piece)
		}
	}
	return out
}
