package client

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/mm"
	"gvisor.dev/gvisor/pkg/sentry/pgalloc"
)

// mincore(2): which pages of a range are resident, as far as the client
// can know it. Linux answers from the page tables, then, for a page
// without one, from the page cache of the mapping's file (private or
// shared; an anonymous page without one is not resident). The client's
// counterparts:
//
//   - A page the address space has backed: mm's pma for it, whose range of
//     the MemoryFile (a memfd) is committed. mm allocates a private
//     anonymous pma uncommitted and for more than the faulting page, so a
//     pma alone does not make a page resident: the host commits its page
//     of the memfd at the first touch (the application's, or the sentry's
//     through its internal mapping), mlock, MAP_POPULATE and MAP_LOCKED
//     commit theirs, MADV_DONTNEED drops the pma or decommits it.
//   - A page of a file the client caches (serverFile: the page cache of
//     every server file this client maps, mapped fds' included): resident
//     while the cache holds it, whether or not this process touched it.
//   - A page of shared anonymous memory (anonShared, shmem's counterpart):
//     resident once its page of the MemoryFile is committed, by whichever
//     process touched it.
//
// mm exports no per-page query of its pmas; DebugString is its one walk
// of them (under its own mappingMu and activeMu), and mincoreSnapshot
// reads the pma lines it writes. The MemoryFile's commitment is what
// pgalloc itself reads to account usage: mincore(2) over its internal
// mapping of the memfd, a shared mapping, for which the host reports the
// memfd's page cache. Like Linux's, the answer is a snapshot: mm's locks
// are dropped before the MemoryFile is asked, so a pma freed meanwhile
// may be answered for with its pages' next use (the internal mapping
// stays valid: pgalloc never unmaps it before Destroy).

// pmaSpan is one pma of an address space backed by the client's
// MemoryFile: ar maps the file from off.
type pmaSpan struct {
	ar  hostarch.AddrRange
	off uint64
}

// memoryFileType is how DebugString names the type of a pma's file that
// is a pgalloc.MemoryFile (fmt's %T).
var memoryFileType = fmt.Sprintf("%T", (*pgalloc.MemoryFile)(nil))

// parsePMAs returns the pmas of an mm.DebugString dump whose file is a
// pgalloc.MemoryFile, in address order. The pma section follows the last
// "PMAs:" line: the vma section before it holds mapped names, which an
// application chooses, but every pma line is mm's own format
// ("start-end perms memtype offset filetype", hex numbers).
func parsePMAs(dump string) ([]pmaSpan, error) {
	const header = "\nPMAs:\n"
	i := strings.LastIndex(dump, header)
	if i < 0 {
		return nil, fmt.Errorf("no %q in mm's dump", strings.TrimSpace(header))
	}
	var out []pmaSpan
	for _, line := range strings.Split(dump[i+len(header):], "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 {
			return nil, fmt.Errorf("pma line %q: want 5 fields", line)
		}
		if f[4] != memoryFileType {
			continue
		}
		start, end, ok := strings.Cut(f[0], "-")
		if !ok {
			return nil, fmt.Errorf("pma line %q: no range", line)
		}
		s, err1 := strconv.ParseUint(start, 16, 64)
		e, err2 := strconv.ParseUint(end, 16, 64)
		off, err3 := strconv.ParseUint(f[3], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil || s >= e {
			return nil, fmt.Errorf("pma line %q: bad numbers", line)
		}
		out = append(out, pmaSpan{hostarch.AddrRange{Start: hostarch.Addr(s), End: hostarch.Addr(e)}, off})
	}
	return out, nil
}

// committedPages sets vec[i] to 1 for each page i of fr (page-aligned,
// len(vec) pages) that mf has committed, and leaves the others.
func committedPages(mf *pgalloc.MemoryFile, fr memmap.FileRange, vec []byte) error {
	if fr.Length() == 0 {
		return nil
	}
	bs, err := mf.MapInternal(fr, hostarch.Read)
	if err != nil {
		return err
	}
	tmp := make([]byte, len(vec))
	n := 0
	for ; !bs.IsEmpty(); bs = bs.Tail() {
		b := bs.Head()
		pages := b.Len() / hostarch.PageSize
		if _, _, errno := unix.RawSyscall(unix.SYS_MINCORE, b.Addr(), uintptr(b.Len()), uintptr(unsafe.Pointer(&tmp[n]))); errno != 0 {
			return errno
		}
		n += pages
	}
	for i, r := range tmp[:n] {
		if r&1 != 0 {
			vec[i] = 1
		}
	}
	return nil
}

// residentPages sets vec[i] to 1 for each page i of [off, off+len(vec)
// pages) the client's cache of the file holds (fetched chunks, up to the
// file's page-rounded size), as Linux reports a file's page cache.
func (f *serverFile) residentPages(off uint64, vec []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.endLocked()
	for i := range vec {
		o := off + uint64(i)*hostarch.PageSize
		if o >= end {
			break
		}
		if f.isFilled(o / cacheChunk) {
			vec[i] = 1
		}
	}
}

// residentPages sets vec[i] to 1 for each page i of [off, off+len(vec)
// pages) of the shared memory that is committed. m.mu keeps m.fr
// allocated while the MemoryFile is asked.
func (m *anonShared) residentPages(off uint64, vec []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fr.Length() == 0 || off >= m.size {
		return nil // never touched
	}
	end := min(off+uint64(len(vec))*hostarch.PageSize, m.size)
	return committedPages(m.c.mf, memmap.FileRange{Start: m.fr.Start + off, End: m.fr.Start + end}, vec[:(end-off)/hostarch.PageSize])
}

// mincoreSnapshot answers mincore for ranges of one address space.
type mincoreSnapshot struct {
	mf   *pgalloc.MemoryFile
	ms   memmap.MappingSpace
	idx  *mappableIndex
	pmas []pmaSpan
}

// newMincoreSnapshot reads m's pmas now.
func newMincoreSnapshot(ctx context.Context, m *mm.MemoryManager, mf *pgalloc.MemoryFile, idx *mappableIndex) (*mincoreSnapshot, error) {
	pmas, err := parsePMAs(m.DebugString(ctx))
	if err != nil {
		return nil, err
	}
	return &mincoreSnapshot{mf: mf, ms: m, idx: idx, pmas: pmas}, nil
}

// resident fills vec (zeroed, a byte per page of ar, which is
// page-aligned) with 1 for each resident page.
func (s *mincoreSnapshot) resident(ar hostarch.AddrRange, vec []byte) error {
	pageOf := func(a hostarch.Addr) int { return int((a - ar.Start) / hostarch.PageSize) }
	for _, p := range s.pmas {
		if p.ar.End <= ar.Start {
			continue
		}
		if p.ar.Start >= ar.End {
			break
		}
		in := p.ar.Intersect(ar)
		off := p.off + uint64(in.Start-p.ar.Start)
		if err := committedPages(s.mf, memmap.FileRange{Start: off, End: off + uint64(in.Length())}, vec[pageOf(in.Start):pageOf(in.End)]); err != nil {
			return err
		}
	}
	for _, r := range s.idx.in(s.ms, ar) {
		v := vec[pageOf(r.Start):pageOf(r.End)]
		switch m := r.mappable.(type) {
		case *serverFile:
			m.residentPages(r.off, v)
		case *anonShared:
			if err := m.residentPages(r.off, v); err != nil {
				return err
			}
		}
	}
	return nil
}
