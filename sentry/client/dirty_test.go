package client

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func mr(start, end uint64) memmap.MappableRange { return memmap.MappableRange{Start: start, End: end} }

// mr2 is a PageRead's offset and length.
type mr2 struct{ off, length uint64 }

func TestPageBits(t *testing.T) {
	const pg = hostarch.PageSize
	for _, tc := range []struct {
		name  string
		add   []memmap.MappableRange
		take  memmap.MappableRange
		added int
		runs  []memmap.MappableRange
		left  int
	}{
		{"empty", nil, mr(0, 10*pg), 0, nil, 0},
		{"one byte marks its page", []memmap.MappableRange{mr(pg+5, pg+6)}, wholeFile, 1, []memmap.MappableRange{mr(pg, 2*pg)}, 0},
		{"adjacent pages merge into one run", []memmap.MappableRange{mr(0, pg), mr(pg, 3*pg)}, wholeFile, 3, []memmap.MappableRange{mr(0, 3*pg)}, 0},
		{"overlapping adds count once", []memmap.MappableRange{mr(0, 2*pg), mr(pg, 3*pg)}, wholeFile, 3, []memmap.MappableRange{mr(0, 3*pg)}, 0},
		{"gaps make runs", []memmap.MappableRange{mr(0, pg), mr(2*pg, 3*pg), mr(100*pg, 101*pg)}, wholeFile, 3,
			[]memmap.MappableRange{mr(0, pg), mr(2*pg, 3*pg), mr(100*pg, 101*pg)}, 0},
		{"take a part", []memmap.MappableRange{mr(0, 4*pg)}, mr(pg, 3*pg), 4, []memmap.MappableRange{mr(pg, 3*pg)}, 2},
		{"take beyond the set", []memmap.MappableRange{mr(0, pg)}, mr(500*pg, 600*pg), 1, nil, 1},
		{"pages past 64 words", []memmap.MappableRange{mr(63*pg, 65*pg), mr(200*pg, 201*pg)}, mr(64*pg, wholeFile.End), 3,
			[]memmap.MappableRange{mr(64*pg, 65*pg), mr(200*pg, 201*pg)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b pageBits
			added := 0
			for _, r := range tc.add {
				added += b.add(r)
			}
			if added != tc.added || b.count() != tc.added {
				t.Errorf("added %d (count %d), want %d", added, b.count(), tc.added)
			}
			if runs := b.take(tc.take); !reflect.DeepEqual(runs, tc.runs) {
				t.Errorf("take(%v) = %v, want %v", tc.take, runs, tc.runs)
			}
			if b.count() != tc.left {
				t.Errorf("left %d pages, want %d", b.count(), tc.left)
			}
		})
	}
}

// fakePages serves PageRead from data and records PageWrites.
type fakePages struct {
	mu     sync.Mutex
	data   []byte
	writes []*pb.PageWrite
	fail   error
	// entered and release, when set, hold each PageWrite until release
	// is closed (entered is signalled first).
	entered chan struct{}
	release chan struct{}
	// released are the ids of FileRelease calls, posted or waited;
	// posted counts the posted ones and waited the waited ones.
	released       []uint64
	posted, waited int
	// refusePost makes post refuse (as the session does during a
	// recovery).
	refusePost bool
	// reads are the PageReads asked, in order.
	reads []mr2
	// calls lists the kinds of calls in order.
	calls []string
	// maxRead, when set, bounds what one PageRead returns; readEnd, when
	// set, is where the server's copy of the file ends (a file shrunk
	// on the server, or reads failing there past it).
	maxRead, readEnd int
}

func (p *fakePages) rpc(call *pb.Call) (*pb.Reply, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch op := call.Op.(type) {
	case *pb.Call_FileRelease:
		if op.FileRelease.Posted {
			return &pb.Reply{Errno: int32(unix.EINVAL)}, nil
		}
		p.calls = append(p.calls, "release")
		p.released = append(p.released, op.FileRelease.FileIds...)
		p.waited++
		return &pb.Reply{}, nil
	case *pb.Call_PageRead:
		p.reads = append(p.reads, mr2{op.PageRead.Offset, uint64(op.PageRead.Length)})
		size := uint64(len(p.data))
		if p.readEnd > 0 {
			size = min(size, uint64(p.readEnd))
		}
		off := min(op.PageRead.Offset, size)
		end := min(off+uint64(op.PageRead.Length), size)
		if p.maxRead > 0 {
			end = min(end, off+uint64(p.maxRead))
		}
		return &pb.Reply{Action: &pb.Reply_Data{Data: append([]byte(nil), p.data[off:end]...)}}, nil
	case *pb.Call_PageWrite:
		if p.release != nil {
			p.mu.Unlock()
			p.entered <- struct{}{}
			<-p.release
			p.mu.Lock()
		}
		if p.fail != nil {
			return nil, p.fail
		}
		p.writes = append(p.writes, op.PageWrite)
		p.calls = append(p.calls, "write")
		copy(p.data[op.PageWrite.Offset:], op.PageWrite.Data)
		return &pb.Reply{Ret: int64(len(op.PageWrite.Data))}, nil
	}
	return &pb.Reply{}, nil
}

// post is the session's Post of a FileRelease.
func (p *fakePages) post(call *pb.Call) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	fr := call.GetFileRelease()
	if p.refusePost || fr == nil || !fr.Posted {
		return false
	}
	p.calls = append(p.calls, "release")
	p.released = append(p.released, fr.FileIds...)
	p.posted++
	return true
}

func (p *fakePages) takeWrites() []*pb.PageWrite {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.writes
	p.writes = nil
	return w
}

// invalidations records MappingSpace.Invalidate calls.
type invalidations struct {
	ars  []hostarch.AddrRange
	opts []memmap.InvalidateOpts
}

func (s *invalidations) Invalidate(ar hostarch.AddrRange, opts memmap.InvalidateOpts) {
	s.ars = append(s.ars, ar)
	s.opts = append(s.opts, opts)
}

// newFakePagesCache returns a client's file cache whose page reads and
// posted writes a fakePages holding data serves.
func newFakePagesCache(t *testing.T, data []byte) (*fileCache, *fakePages) {
	t.Helper()
	mf, err := platform.NewMemoryFile()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mf.Destroy)
	c := &client{mf: mf, log: hclog.NewNullLogger(), done: make(chan struct{})}
	c.files = newFileCache(c)
	fp := &fakePages{data: data}
	c.files.rpc, c.files.post = fp.rpc, fp.post
	return c.files, fp
}

// newTestFile returns a serverFile of size bytes served by a fakePages.
func newTestFile(t *testing.T, size int) (*serverFile, *fakePages) {
	t.Helper()
	files, fp := newFakePagesCache(t, bytes.Repeat([]byte{'.'}, size))
	f := files.get(context.Background(), 1, uint64(size), 0, "test", nil)
	t.Cleanup(f.releasePages)
	return f, fp
}

// store writes b at off of the cached file, as a store through a mapping
// with a writable translation would.
func store(t *testing.T, f *serverFile, off uint64, b string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.copyInLocked(off, []byte(b)); err != nil {
		t.Fatal(err)
	}
}

// TestDirtyTracking: clean pages are translated without write permission;
// a write fault dirties exactly the pages it needs; writeback sends them
// (clipped to the file's end), takes them away from every mapping first
// so that the next store faults again, and leaves nothing dirty.
func TestDirtyTracking(t *testing.T) {
	const pg = hostarch.PageSize
	ctx := context.Background()
	f, fp := newTestFile(t, 3*pg+100)
	ms := &invalidations{}
	if err := f.AddMapping(ctx, ms, hostarch.AddrRange{Start: 0x10000, End: 0x10000 + 4*pg}, 0, true); err != nil {
		t.Fatal(err)
	}

	ts, err := f.Translate(ctx, mr(0, pg), mr(0, 4*pg), hostarch.Read)
	if err != nil {
		t.Fatalf("read translate: %v", err)
	}
	for _, tr := range ts {
		if tr.Perms.Write {
			t.Errorf("read fault got a writable translation %v", tr)
		}
	}
	if n := f.fc.dirtyPages.Load(); n != 0 {
		t.Fatalf("read fault dirtied %d pages", n)
	}

	ts, err = f.Translate(ctx, mr(pg, 2*pg), mr(0, 4*pg), hostarch.ReadWrite)
	if err != nil {
		t.Fatalf("write translate: %v", err)
	}
	if len(ts) != 1 || ts[0].Source != mr(pg, 2*pg) || !ts[0].Perms.Write {
		t.Fatalf("write fault translations %v, want only page 1, writable", ts)
	}
	// The last page: the file ends 100 bytes into it.
	if _, err := f.Translate(ctx, mr(3*pg, 4*pg), mr(3*pg, 4*pg), hostarch.Write); err != nil {
		t.Fatalf("write translate of the last page: %v", err)
	}
	if n := f.fc.dirtyPages.Load(); n != 2 {
		t.Fatalf("dirty pages %d, want 2", n)
	}
	store(t, f, pg+10, "stored")
	store(t, f, 3*pg, "tail")

	if err := f.writeback(ctx, wholeFile); err != nil {
		t.Fatal(err)
	}
	ws := fp.takeWrites()
	if len(ws) != 2 || ws[0].Offset != pg || len(ws[0].Data) != pg || ws[1].Offset != 3*pg || len(ws[1].Data) != 100 {
		t.Fatalf("PageWrites %v, want page 1 whole and the 100 bytes of page 3", ws)
	}
	if got := string(fp.data[pg+10 : pg+16]); got != "stored" {
		t.Errorf("server has %q at page 1, want the store", got)
	}
	if got := string(fp.data[3*pg : 3*pg+4]); got != "tail" {
		t.Errorf("server has %q at page 3, want the store", got)
	}
	wantInv := []hostarch.AddrRange{{Start: 0x10000 + pg, End: 0x10000 + 2*pg}, {Start: 0x10000 + 3*pg, End: 0x10000 + 4*pg}}
	if !reflect.DeepEqual(ms.ars, wantInv) {
		t.Errorf("invalidated %v, want %v (the written-back pages, so the next store faults)", ms.ars, wantInv)
	}
	if n := f.fc.dirtyPages.Load(); n != 0 || len(f.fc.dirtyFiles) != 0 {
		t.Errorf("after writeback: %d dirty pages, %d dirty files", n, len(f.fc.dirtyFiles))
	}
	if err := f.writeback(ctx, wholeFile); err != nil || len(fp.takeWrites()) != 0 {
		t.Errorf("a clean file was written back again (err %v)", err)
	}

	// msync of a range writes back only that range.
	f.Translate(ctx, mr(0, pg), mr(0, pg), hostarch.Write)
	f.Translate(ctx, mr(2*pg, 3*pg), mr(2*pg, 3*pg), hostarch.Write)
	if err := f.Msync(ctx, mr(2*pg, 3*pg)); err != nil {
		t.Fatal(err)
	}
	if ws := fp.takeWrites(); len(ws) != 1 || ws[0].Offset != 2*pg {
		t.Errorf("msync of page 2 wrote %v", ws)
	}
	if n := f.fc.dirtyPages.Load(); n != 1 {
		t.Errorf("page 0 should still be dirty: %d dirty pages", n)
	}

	// A failed write-back is reported and not retried forever.
	fp.fail = errors.New("server gone")
	if err := f.writeback(ctx, wholeFile); err == nil {
		t.Error("failed write-back returned no error")
	}
	if n := f.fc.dirtyPages.Load(); n != 0 {
		t.Errorf("%d dirty pages after a failed write-back", n)
	}
}

// TestMappedFileChange: a change the server reports updates the cached
// pages: the call's bytes copied in, or re-read; a shrink drops the pages
// beyond the end (SIGBUS) and their dirtiness, and zeroes the tail.
func TestMappedFileChange(t *testing.T) {
	const pg = hostarch.PageSize
	ctx := context.Background()
	f, fp := newTestFile(t, 2*pg)
	ms := &invalidations{}
	f.AddMapping(ctx, ms, hostarch.AddrRange{Start: 0x10000, End: 0x10000 + 2*pg}, 0, true)
	if _, err := f.Translate(ctx, mr(0, pg), mr(0, 2*pg), hostarch.Read); err != nil {
		t.Fatal(err)
	}
	read := func(off, n uint64) string {
		f.mu.Lock()
		defer f.mu.Unlock()
		b, err := f.copyOutLocked(off, n)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	f.applyChange(ctx, &pb.MappedFileChange{FileId: 1, Offset: 10, Length: 5, Size: 2 * pg}, []byte("hello"))
	if got := read(8, 9); got != "..hello.." {
		t.Errorf("after a write's change: %q", got)
	}
	copy(fp.data[pg+1:], "remote")
	f.applyChange(ctx, &pb.MappedFileChange{FileId: 1, Offset: pg + 1, Length: 6, Size: 2 * pg}, nil)
	if got := read(pg, 8); got != ".remote." {
		t.Errorf("after a re-read change: %q", got)
	}

	f.Translate(ctx, mr(pg, 2*pg), mr(pg, 2*pg), hostarch.Write)
	f.applyChange(ctx, &pb.MappedFileChange{FileId: 1, Size: 100}, nil)
	if _, err := f.Translate(ctx, mr(pg, 2*pg), mr(pg, 2*pg), hostarch.Read); err == nil {
		t.Error("page beyond the new end translated; want a bus error")
	} else if _, ok := err.(*memmap.BusError); !ok {
		t.Errorf("beyond the end: %v, want *memmap.BusError", err)
	}
	// Page 0, changed by the calls above, stays dirty (a write-back
	// in flight could have copied it before their bytes); page 1 went.
	if n := f.fc.dirtyPages.Load(); n != 1 {
		t.Errorf("%d dirty pages after the shrink, want 1: page 0", n)
	}
	if len(ms.ars) == 0 || ms.ars[len(ms.ars)-1] != (hostarch.AddrRange{Start: 0x10000 + pg, End: 0x10000 + 2*pg}) {
		t.Errorf("invalidations %v, want the page beyond the end", ms.ars)
	}
	f.applyChange(ctx, &pb.MappedFileChange{FileId: 1, Size: 2 * pg}, nil)
	if got := read(98, 4); got != "..\x00\x00" {
		t.Errorf("tail of the last page after shrink and grow: %q, want zeros", got)
	}
}

// TestMappedFileGrowsPastCapacity: a change that grows the file (a
// child's write past the end while its parent maps the file) lands in
// the cache although the cache ended at the old end: the chunk holding
// the old end is already marked filled, so bytes clipped at the old
// capacity would read as zeros once a mapping reaches them.
func TestMappedFileGrowsPastCapacity(t *testing.T) {
	const pg = hostarch.PageSize
	tests := []struct {
		name             string
		oldSize, newSize int
		// reread sends the change without its bytes (read again).
		reread bool
	}{
		{name: "a page grows to two", oldSize: pg, newSize: 2 * pg},
		{name: "a page grows to two, read again", oldSize: pg, newSize: 2 * pg, reread: true},
		{name: "a partial page grows past it", oldSize: 100, newSize: 5000},
		{name: "a partial page grows past it, read again", oldSize: 100, newSize: 5000, reread: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, fp := newTestFile(t, tc.oldSize)
			if _, err := f.Translate(ctx, mr(0, pg), mr(0, pg), hostarch.Read); err != nil {
				t.Fatal(err)
			}
			grown := bytes.Repeat([]byte{'g'}, tc.newSize-tc.oldSize)
			fp.data = append(fp.data, grown...)
			var data []byte
			if !tc.reread {
				data = grown
			}
			f.applyChange(ctx, &pb.MappedFileChange{FileId: 1, Offset: uint64(tc.oldSize), Length: uint64(len(grown)), Size: uint64(tc.newSize)}, data)
			end := uint64(tc.newSize+pg-1) &^ (pg - 1)
			if _, err := f.Translate(ctx, mr(0, end), mr(0, end), hostarch.Read); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			got, err := f.copyOutLocked(0, uint64(tc.newSize))
			f.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, fp.data) {
				i := 0
				for i < len(got) && got[i] == fp.data[i] {
					i++
				}
				t.Errorf("cached file differs from the file at offset %d: %q, want %q", i, got[i:min(i+8, len(got))], fp.data[i:min(i+8, len(fp.data))])
			}
		})
	}
}

// TestForeignChangeRefreshesPages: a plan of a cached file at another
// gen and the same size (another client rewrote it) makes the cached
// pages the file's current ones before the new mapping: clean pages are
// read again, dirty ones keep this client's stores, and every mapping
// loses its translations but not its private copies
// (InvalidatePrivate false), so that it faults the current pages in.
func TestForeignChangeRefreshesPages(t *testing.T) {
	const pg = hostarch.PageSize
	const private, shared = 0x100000, 0x400000
	tests := []struct {
		name string
		size uint64
		// dirty are the pages stored to through the shared mapping.
		dirty []uint64
		// gen is the new plan's (the file is cached at gen 0).
		gen uint64
		// wantFilled is how many chunks stay filled before the next
		// fault (those holding dirty pages).
		wantFilled int
	}{
		{name: "same gen: the cached pages serve", size: 2 * pg, gen: 0, wantFilled: 1},
		{name: "a clean file", size: 2 * pg, gen: 1, wantFilled: 0},
		{name: "a dirty page kept, the clean one read again", size: 2 * pg, dirty: []uint64{1}, gen: 1, wantFilled: 1},
		{name: "a partial last page", size: 2*pg + 100, dirty: []uint64{0}, gen: 1, wantFilled: 1},
		{name: "a clean chunk and a dirty one", size: 2 * cacheChunk, dirty: []uint64{cacheChunk/pg + 3}, gen: 5, wantFilled: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, fp := newTestFile(t, int(tc.size))
			end := (tc.size + pg - 1) &^ (pg - 1)
			ms := &invalidations{}
			f.AddMapping(ctx, ms, hostarch.AddrRange{Start: private, End: private + hostarch.Addr(end)}, 0, false)
			f.AddMapping(ctx, ms, hostarch.AddrRange{Start: shared, End: shared + hostarch.Addr(end)}, 0, true)
			if _, err := f.Translate(ctx, mr(0, pg), mr(0, end), hostarch.Read); err != nil {
				t.Fatal(err)
			}
			old := append([]byte(nil), fp.data...)
			for _, p := range tc.dirty {
				if _, err := f.Translate(ctx, mr(p*pg, (p+1)*pg), mr(p*pg, (p+1)*pg), hostarch.Write); err != nil {
					t.Fatal(err)
				}
				store(t, f, p*pg, "mine")
				copy(old[p*pg:], "mine")
			}
			// Another client rewrites the whole file at the same size.
			fp.mu.Lock()
			fp.data = bytes.Repeat([]byte{'n'}, int(tc.size))
			fp.mu.Unlock()

			if g := f.fc.get(ctx, 1, tc.size, tc.gen, "test", nil); g != f {
				t.Fatal("a plan of the same size got another file: the old mappings would keep stale pages")
			}
			f.mu.Lock()
			filled := f.nfilled
			f.mu.Unlock()
			if filled != tc.wantFilled {
				t.Errorf("%d chunks filled after the plan, want %d", filled, tc.wantFilled)
			}
			if _, err := f.Translate(ctx, mr(0, end), mr(0, end), hostarch.Read); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			got, err := f.copyOutLocked(0, tc.size)
			gen := f.gen
			f.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			want := old
			var wantInv []hostarch.AddrRange
			if tc.gen != 0 {
				want = append([]byte(nil), fp.data...)
				for _, p := range tc.dirty {
					copy(want[p*pg:min((p+1)*pg, tc.size)], old[p*pg:])
				}
				wantInv = []hostarch.AddrRange{{Start: private, End: private + hostarch.Addr(end)}, {Start: shared, End: shared + hostarch.Addr(end)}}
			}
			for p := uint64(0); p*pg < tc.size; p++ {
				s, e := p*pg, min((p+1)*pg, tc.size)
				if !bytes.Equal(got[s:e], want[s:e]) {
					t.Errorf("page %d reads %q..., want %q...", p, got[s:s+8], want[s:s+8])
				}
			}
			if gen != tc.gen {
				t.Errorf("cached at gen %d, want %d", gen, tc.gen)
			}
			if n, want := f.fc.refreshes.Load(), min(tc.gen, 1); n != want {
				t.Errorf("%d refreshes counted, want %d", n, want)
			}
			if n := f.fc.dirtyPages.Load(); n != int64(len(tc.dirty)) {
				t.Errorf("%d dirty pages, want %d (this client's stores kept)", n, len(tc.dirty))
			}
			// Both mappings cover the same file range: MappingSet keeps
			// them in a map.
			sort.Slice(ms.ars, func(i, j int) bool { return ms.ars[i].Start < ms.ars[j].Start })
			if !reflect.DeepEqual(ms.ars, wantInv) {
				t.Errorf("invalidated %v, want %v", ms.ars, wantInv)
			}
			for _, o := range ms.opts {
				if o.InvalidatePrivate {
					t.Error("a refresh invalidated private pages: a private mapping's stores would be lost")
				}
			}
		})
	}
}

// TestFlushWaitsForWriteBackInFlight: a forwarded read must see stores the
// flusher is writing back: flushAll waits for a write-back in flight even
// though no page is dirty any more.
func TestFlushWaitsForWriteBackInFlight(t *testing.T) {
	const pg = hostarch.PageSize
	ctx := context.Background()
	f, fp := newTestFile(t, pg)
	fp.entered, fp.release = make(chan struct{}, 1), make(chan struct{})
	f.Translate(ctx, mr(0, pg), mr(0, pg), hostarch.Write)
	store(t, f, 0, "async")
	go f.writeback(ctx, wholeFile) // the flusher
	<-fp.entered
	if f.fc.dirtyPages.Load() != 0 {
		t.Fatal("the write-back in flight left the page dirty")
	}
	done := make(chan error)
	go func() { done <- f.fc.flushAll(ctx) }()
	select {
	case <-done:
		t.Fatal("flushAll returned while a write-back was still in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(fp.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := string(fp.data[:5]); got != "async" {
		t.Errorf("server has %q after flushAll, want the store", got)
	}
	if f.fc.pending() {
		t.Error("still pending after flushAll")
	}
}

// TestReleaseWhenUnmapped: when the last mapping of a file goes, its dirty
// pages are written back first, then the server is told, once per plan
// the client was handed, in a posted FileRelease (nothing waits for it);
// when the session cannot post (a recovery runs), in a waited one. The
// pages stay cached for the next mapping.
func TestReleaseWhenUnmapped(t *testing.T) {
	const pg = hostarch.PageSize
	for _, tc := range []struct {
		name           string
		refusePost     bool
		posted, waited int
	}{
		{name: "posted", posted: 1},
		{name: "waited when it cannot be posted", refusePost: true, waited: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, fp := newTestFile(t, pg)
			fp.refusePost = tc.refusePost
			if g := f.fc.get(context.Background(), 1, pg, 0, "test", nil); g != f {
				t.Fatal("a second plan of the same id got another file")
			}
			f.Translate(ctx, mr(0, pg), mr(0, pg), hostarch.Write)
			store(t, f, 0, "last")
			f.DecRef(ctx)
			if len(fp.calls) != 0 {
				t.Fatalf("released while still mapped: %v", fp.calls)
			}
			f.DecRef(ctx)
			if want := []string{"write", "release"}; !reflect.DeepEqual(fp.calls, want) {
				t.Errorf("calls %v, want %v (write back, then release)", fp.calls, want)
			}
			if !reflect.DeepEqual(fp.released, []uint64{1, 1}) {
				t.Errorf("released %v, want id 1 once per plan", fp.released)
			}
			if fp.posted != tc.posted || fp.waited != tc.waited {
				t.Errorf("releases posted %d, waited %d; want %d and %d", fp.posted, fp.waited, tc.posted, tc.waited)
			}
			if n, p := f.fc.releases.Load(), f.fc.releasesPosted.Load(); n != 1 || p != uint64(tc.posted) {
				t.Errorf("counted %d releases, %d posted; want 1 and %d", n, p, tc.posted)
			}
			if g := f.fc.get(context.Background(), 1, pg, 0, "test", nil); g != f || g.cachedBytes() == 0 {
				t.Errorf("mapping the file again did not find its cached pages")
			}
		})
	}
}

// TestFaultFetches: what a fault fetches, in how many PageReads. A file
// of up to wholeFileMax comes whole, up to its size (not the rest of its
// last page: that was a second round trip for nothing); a larger one
// mapped executable in the aligned codeWindow windows around the fault
// (a program's faults are spread below and above each other); another
// larger one from the fault on, readahead further within the mapping.
func TestFaultFetches(t *testing.T) {
	const pg = hostarch.PageSize
	const mib = 1 << 20
	const big = 3*codeWindow + 100
	for _, tc := range []struct {
		name   string
		size   uint64
		code   bool
		faults []uint64 // the offsets of one-page read faults, in order
		reads  []mr2
	}{
		{name: "small file, whole to its size", size: 3*pg + 100, faults: []uint64{pg}, reads: []mr2{{0, 3*pg + 100}}},
		{name: "small file, page-aligned size", size: 4 * pg, faults: []uint64{0, 3 * pg}, reads: []mr2{{0, 4 * pg}}},
		{name: "small file mapped executable, whole", size: 3*pg + 100, code: true, faults: []uint64{2 * pg}, reads: []mr2{{0, 3*pg + 100}}},
		{name: "large data file, fault and readahead", size: big, faults: []uint64{5*mib + 2*pg},
			reads: []mr2{{5 * mib, mib + cacheChunk}}},
		{name: "large code file, its aligned window", size: big, code: true, faults: []uint64{5*mib + 2*pg},
			reads: []mr2{{codeWindow, codeWindow}}},
		{name: "large code file, faults below and above in one window", size: big, code: true,
			faults: []uint64{7 * mib, 5 * mib, codeWindow, 2*codeWindow - pg}, reads: []mr2{{codeWindow, codeWindow}}},
		{name: "large code file, the last window ends at the size", size: big, code: true, faults: []uint64{3 * codeWindow},
			reads: []mr2{{3 * codeWindow, 100}}},
		{name: "large code file, two windows", size: big, code: true, faults: []uint64{2*codeWindow + pg, pg},
			reads: []mr2{{2 * codeWindow, codeWindow}, {0, codeWindow}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, fp := newTestFile(t, int(tc.size))
			if tc.code {
				f.markCode()
			}
			end := (tc.size + pg - 1) / pg * pg
			for _, at := range tc.faults {
				if _, err := f.Translate(ctx, mr(at, at+pg), mr(0, end), hostarch.Read); err != nil {
					t.Fatalf("Translate at %#x: %v", at, err)
				}
			}
			if !reflect.DeepEqual(fp.reads, tc.reads) {
				t.Errorf("PageReads %v, want %v", fp.reads, tc.reads)
			}
			if n := f.fc.pageReads.Load(); n != uint64(len(tc.reads)) {
				t.Errorf("counted %d PageReads, want %d", n, len(tc.reads))
			}
		})
	}
}

// TestShortPageRead: a PageRead that comes back short of the file's size
// never leaves zeros in the cache as the file's bytes (an executable's
// text read short would run them): the rest is asked for again, and what
// the server cannot give before the size the client knows faults with
// SIGBUS.
func TestShortPageRead(t *testing.T) {
	const size = 5*cacheChunk + 100
	for _, tc := range []struct {
		name             string
		maxRead, readEnd int
		at               uint64 // the faulting offset
		wantBus          bool
	}{
		{name: "whole", at: 3 * cacheChunk},
		{name: "each read short", maxRead: cacheChunk + 4096, at: 3 * cacheChunk},
		{name: "reads shorter than a chunk", maxRead: 4096, at: 3 * cacheChunk},
		{name: "shrunk on the server", readEnd: 2*cacheChunk + 10, at: 3 * cacheChunk, wantBus: true},
		{name: "shrunk, fault before the end", readEnd: 2*cacheChunk + 10, at: cacheChunk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, fp := newTestFile(t, size)
			fp.maxRead, fp.readEnd = tc.maxRead, tc.readEnd
			_, err := f.Translate(ctx, mr(tc.at, tc.at+hostarch.PageSize), mr(0, size+hostarch.PageSize-100), hostarch.Read)
			var bus *memmap.BusError
			if gotBus := errors.As(err, &bus); gotBus != tc.wantBus || (err != nil && !gotBus) {
				t.Fatalf("Translate at %#x: %v, want a bus error: %v", tc.at, err, tc.wantBus)
			}
			// Every chunk counted as present holds the file's bytes.
			f.mu.Lock()
			defer f.mu.Unlock()
			for c := uint64(0); c*cacheChunk < size; c++ {
				if !f.isFilled(c) {
					continue
				}
				n := min(uint64(cacheChunk), size-c*cacheChunk)
				b, err := f.copyOutLocked(c*cacheChunk, n)
				if err != nil {
					t.Fatal(err)
				}
				if i := bytes.IndexByte(b, 0); i >= 0 {
					t.Errorf("chunk %d is present but holds a zero at %d (the server gave %d bytes at most per read, the file up to %d)", c, i, tc.maxRead, tc.readEnd)
				}
			}
			if !tc.wantBus && !f.isFilled(tc.at/cacheChunk) {
				t.Errorf("the faulting chunk %d is not present", tc.at/cacheChunk)
			}
		})
	}
}

// TestForgetIdleAtRecovery: a recovery drops the cached files nobody
// maps: a restored server may hand their ids to other files, whose plans
// of the same size and gen must not find these pages. Mapped files, and
// unmapped ones still dirty, stay.
func TestForgetIdleAtRecovery(t *testing.T) {
	const pg = hostarch.PageSize
	for _, tc := range []struct {
		name          string
		mapped        bool
		dirty         bool // a store not written back (the write-back fails)
		wantForgotten bool
	}{
		{name: "mapped", mapped: true},
		{name: "idle", wantForgotten: true},
		{name: "idle and dirty", dirty: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, fp := newTestFile(t, pg)
			if _, err := f.Translate(ctx, mr(0, pg), mr(0, pg), hostarch.Write); err != nil {
				t.Fatal(err)
			}
			if tc.dirty {
				store(t, f, 0, "unsaved")
				fp.fail = errors.New("the server is gone")
			} else if err := f.writeback(ctx, wholeFile); err != nil {
				t.Fatal(err)
			}
			if !tc.mapped {
				f.DecRef(ctx)
				if tc.dirty {
					// decRef's failed write-back dropped the stores;
					// make the page dirty again, as a later store
					// before the next write-back would.
					f.mu.Lock()
					f.fc.noteDirty(f, f.dirty.add(mr(0, pg)))
					f.mu.Unlock()
				}
			}
			fc := f.fc
			// The recovery asks while a fault may hold a file's mu
			// across a PageRead that waits for the recovery: it must
			// not wait for it.
			f.mu.Lock()
			asked := make(chan struct{})
			go func() {
				fc.forgetIdle()
				close(asked)
			}()
			select {
			case <-asked:
			case <-time.After(5 * time.Second):
				t.Error("forgetIdle waited for a file's lock a fault holds")
			}
			f.mu.Unlock()
			<-asked
			g := fc.get(ctx, 1, pg, 0, "other", nil) // the next look-up
			if (g != f) != tc.wantForgotten {
				t.Errorf("a plan of the same id, size and gen after the recovery found the old file: %v, want %v", g == f, !tc.wantForgotten)
			}
			fc.mu.Lock()
			idle, idleBytes := len(fc.idle), fc.idleBytes
			fc.mu.Unlock()
			if tc.wantForgotten && (idle != 0 || idleBytes != 0) {
				t.Errorf("%d idle files, %d idle bytes left", idle, idleBytes)
			}
		})
	}
}

// BenchmarkCacheFill times filling 4 MiB of a cached file's fresh pages
// (copyInLocked, a PageRead's bytes): written to the memory file's fd, and
// copied through the client's mapping with and without committing the
// pages first (docs/BENCHMARKS.md, "makewall", "hostsplice").
func BenchmarkCacheFill(b *testing.B) {
	data := bytes.Repeat([]byte{'x'}, 4<<20)
	for _, c := range []struct{ byFD, populate bool }{{true, false}, {false, true}, {false, false}} {
		b.Run(fmt.Sprintf("byfd=%v/populate=%v", c.byFD, c.populate), func(b *testing.B) {
			defer cachePopulate.Store(cachePopulate.Load())
			defer fillByFD.Store(fillByFD.Load())
			cachePopulate.Store(c.populate)
			fillByFD.Store(c.byFD)
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f, done := cachedFile(b, uint64(len(data)))
				b.StartTimer()
				err := f.copyInLocked(0, data)
				b.StopTimer()
				done()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
