package client

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/safemem"
	"gvisor.dev/gvisor/pkg/sentry/arch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/mm"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
)

const ps = hostarch.PageSize

// vecString renders a mincore vector as "0110...".
func vecString(v []byte) string {
	var b strings.Builder
	for _, x := range v {
		b.WriteByte('0' + x)
	}
	return b.String()
}

// TestParsePMAs reads the pma lines of a dump in mm.DebugString's
// format: only the MemoryFile's, and only those after the last "PMAs:"
// header, whatever a mapped name in the vma section says.
func TestParsePMAs(t *testing.T) {
	dump := "VMAs:\n" +
		"00400000-00401000 r-xp 00000000 00:00 0 /x\nPMAs:\n00400000-00402000 rw-p WB 00000000 *pgalloc.MemoryFile\n\n" +
		"00600000-00602000 rw-p 00000000 00:00 0 [heap]\n" +
		"PMAs:\n" +
		"00600000-00601000 rw-p WB 0001a000 *pgalloc.MemoryFile\n" +
		"00601000-00602000 rc-s WB 00200000 *pgalloc.MemoryFile\n" +
		"7f0000000000-7f0000001000 r--s UC 00000000 *fake.File\n"
	got, err := parsePMAs(dump)
	if err != nil {
		t.Fatal(err)
	}
	want := []pmaSpan{
		{hostarch.AddrRange{Start: 0x600000, End: 0x601000}, 0x1a000},
		{hostarch.AddrRange{Start: 0x601000, End: 0x602000}, 0x200000},
	}
	if len(got) != len(want) {
		t.Fatalf("parsePMAs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("pma %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{
		"VMAs:\n",
		"VMAs:\nPMAs:\n00600000-00601000 rw-p WB *pgalloc.MemoryFile\n",
		"VMAs:\nPMAs:\n00601000-00600000 rw-p WB 0 *pgalloc.MemoryFile\n",
		"VMAs:\nPMAs:\n0060z000-00601000 rw-p WB 0 *pgalloc.MemoryFile\n",
	} {
		if pmas, err := parsePMAs(bad); err == nil {
			t.Errorf("parsePMAs(%q) = %v, want an error", bad, pmas)
		}
	}
}

// TestMincoreAddressSpace runs mincoreSnapshot on a real address space:
// a small private anonymous mapping has pmas throughout as soon as it is
// mapped (mm populates it), but only the pages stored to are resident;
// MADV_DONTNEED (mm.Decommit) makes them not resident again;
// MAP_POPULATE's commit makes every page resident; of shared anonymous
// memory, the pages stored to through any mapping are resident in
// another that never touched them.
func TestMincoreAddressSpace(t *testing.T) {
	forEachPlatform(t, func(t *testing.T, name string) {
		if name == platform.Ptrace {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		plat, err := platform.New(name)
		if err != nil {
			t.Fatal(err)
		}
		mf, err := platform.NewMemoryFile()
		if err != nil {
			t.Fatal(err)
		}
		c := &client{mf: mf, log: hclog.NewNullLogger(), done: make(chan struct{})}
		ctx := platform.NewContext(mf, defaultLimits())
		m, err := mm.NewMemoryManager(plat, mf)
		if err != nil {
			t.Fatal(err)
		}
		defer m.DecUsers(ctx)
		if _, err := m.SetMmapLayout(arch.New(arch.AMD64), defaultLimits()); err != nil {
			t.Fatal(err)
		}

		resident := func(addr hostarch.Addr, pages int) string {
			t.Helper()
			s, err := newMincoreSnapshot(ctx, m, mf, &c.mapIndex)
			if err != nil {
				t.Fatal(err)
			}
			v := make([]byte, pages)
			if err := s.resident(hostarch.AddrRange{Start: addr, End: addr + hostarch.Addr(pages*ps)}, v); err != nil {
				t.Fatal(err)
			}
			return vecString(v)
		}
		store := func(addr hostarch.Addr) {
			t.Helper()
			if _, err := m.CopyOut(ctx, addr, []byte{1}, usermem.IOOpts{}); err != nil {
				t.Fatal(err)
			}
		}

		a, err := m.MMap(ctx, memmap.MMapOpts{Length: 8 * ps, Private: true, Perms: hostarch.ReadWrite, MaxPerms: hostarch.AnyAccess})
		if err != nil {
			t.Fatal(err)
		}
		if got := resident(a, 8); got != "00000000" {
			t.Errorf("untouched: %s, want none resident", got)
		}
		store(a + 1*ps)
		store(a + 6*ps + 17)
		if got := resident(a, 8); got != "01000010" {
			t.Errorf("pages 1 and 6 stored to: %s", got)
		}
		if got := resident(a+ps, 2); got != "10" {
			t.Errorf("pages 1-2 of them: %s", got)
		}
		if err := m.Decommit(a, 8*ps); err != nil {
			t.Fatal(err)
		}
		if got := resident(a, 8); got != "00000000" {
			t.Errorf("after MADV_DONTNEED: %s", got)
		}

		p, err := m.MMap(ctx, memmap.MMapOpts{Length: 4 * ps, Private: true, Perms: hostarch.ReadWrite, MaxPerms: hostarch.AnyAccess, PlatformEffect: memmap.PlatformEffectCommit})
		if err != nil {
			t.Fatal(err)
		}
		if got := resident(p, 4); got != "1111" {
			t.Errorf("MAP_POPULATE: %s", got)
		}

		// Shared anonymous memory mapped twice: a store through one
		// mapping makes the page resident in both.
		sh := newAnonShared(c, 4*ps)
		var sa [2]hostarch.Addr
		for i := range sa {
			sh.IncRef()
			sa[i], err = m.MMap(ctx, memmap.MMapOpts{Length: 4 * ps, Mappable: sh, MappingIdentity: sh, Perms: hostarch.ReadWrite, MaxPerms: hostarch.AnyAccess})
			if err != nil {
				t.Fatal(err)
			}
		}
		sh.DecRef(ctx)
		if got := resident(sa[1], 4); got != "0000" {
			t.Errorf("shared, untouched: %s", got)
		}
		store(sa[0] + 2*ps)
		if got := resident(sa[1], 4); got != "0010" {
			t.Errorf("shared, page 2 stored to through the other mapping: %s", got)
		}
	})
}

// TestMincoreFileCache: a file's pages are resident while the client's
// cache holds them, by the chunk it fetches, not beyond the file's end.
func TestMincoreFileCache(t *testing.T) {
	const size = wholeFileMax + 3*cacheChunk + 100 // fetched in parts
	f, _ := newTestFile(t, size)
	resident := func(off uint64, pages int) string {
		v := make([]byte, pages)
		f.residentPages(off, v)
		return vecString(v)
	}
	const chunkPages = cacheChunk / ps
	if got := resident(0, 2*chunkPages); got != strings.Repeat("0", 2*chunkPages) {
		t.Errorf("nothing fetched: %s", got)
	}
	// A fault on the second chunk's first page fetches that chunk.
	mrange := memmap.MappableRange{Start: cacheChunk, End: cacheChunk + ps}
	if _, err := f.Translate(context.Background(), mrange, mrange, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("0", chunkPages) + strings.Repeat("1", chunkPages) + "0"
	if got := resident(0, 2*chunkPages+1); got != want {
		t.Errorf("second chunk fetched:\n got %s\nwant %s", got, want)
	}
	// The last chunk holds 100 bytes: one page, up to the file's
	// page-rounded end, and none after it.
	last := uint64(size) / cacheChunk * cacheChunk
	mrange = memmap.MappableRange{Start: last, End: last + ps}
	if _, err := f.Translate(context.Background(), mrange, mrange, hostarch.Read); err != nil {
		t.Fatal(err)
	}
	if got := resident(last, 3); got != "100" {
		t.Errorf("last chunk: %s", got)
	}
}

// TestMincoreAnonShared: shared anonymous memory is resident by page
// once stored to, not before it is allocated at all.
func TestMincoreAnonShared(t *testing.T) {
	files, _ := newFakePagesCache(t, nil)
	m := newAnonShared(files.c, 4*ps)
	defer m.DecRef(context.Background())
	v := make([]byte, 4)
	if err := m.residentPages(0, v); err != nil || vecString(v) != "0000" {
		t.Errorf("unallocated: %s, %v", vecString(v), err)
	}
	all := memmap.MappableRange{Start: 0, End: 4 * ps}
	ts, err := m.Translate(context.Background(), all, all, hostarch.Write)
	if err != nil {
		t.Fatal(err)
	}
	fr := memmap.FileRange{Start: ts[0].Offset + 3*ps, End: ts[0].Offset + 4*ps}
	bs, err := files.c.mf.MapInternal(fr, hostarch.Write)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := safemem.CopySeq(bs, safemem.BlockSeqOf(safemem.BlockFromSafeSlice(bytes.Repeat([]byte{1}, 10)))); err != nil {
		t.Fatal(err)
	}
	if err := m.residentPages(ps, v[:3]); err != nil || vecString(v[:3]) != "001" {
		t.Errorf("page 3 stored to, pages 1-3: %s, %v", vecString(v[:3]), err)
	}
	// A range past the memory's end has nothing resident.
	v = []byte{0, 0}
	if err := m.residentPages(3*ps, v); err != nil || vecString(v) != "10" {
		t.Errorf("pages 3-4: %s, %v", vecString(v), err)
	}
}
