package client

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/safemem"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/pgalloc"
	"gvisor.dev/gvisor/pkg/sentry/usage"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Page cache tuning.
const (
	// cacheChunk is the unit in which file pages are fetched and tracked.
	cacheChunk = 64 << 10
	// wholeFileMax: files up to this size are fetched whole on the first
	// fault (one round trip; busybox is ~1-2 MiB).
	wholeFileMax = 4 << 20
	// readahead beyond the faulting range for larger files.
	readahead = 1 << 20
	// codeWindow: a fault in a larger file mapped executable (an exec
	// image, a library's text) fetches the aligned window of this size
	// around it. A program's faults are spread over its file, below as
	// much as above the last: a window after each fault left gaps
	// fetched one chunk at a time (cc1, 33 MB: 63 PageReads of 29 MB
	// a build, 8 with aligned 4 MiB windows).
	codeWindow = 4 << 20
	// maxPageRead bounds one PageRead.
	maxPageRead = 4 << 20
	// maxPageWrite bounds one PageWrite (the server's limit).
	maxPageWrite = 4 << 20
	// Idle files (no mapping left) kept cached, by count and bytes.
	maxIdleFiles = 32
	maxIdleBytes = 256 << 20
)

// taskKey is the gVisor context key for the calling *task.
type taskKey struct{}

// flushInterval is how often dirty pages of shared file mappings are
// written back in the background (Linux's dirty_writeback_centisecs is
// 5 s; shorter here because the data is at risk only while it is only in
// this client's memory).
const flushInterval = 2 * time.Second

// fileCache holds the client's copies of server files' pages, shared by
// every process of this client (measured: exec through a Mappable whose
// pages are fetched once). It is also the client's page cache for shared
// file mappings: stores through them dirty the cached pages, which are
// written back to the server with PageWrite (see serverFile.writeback).
type fileCache struct {
	c  *client
	mu sync.Mutex
	// files are the cached files by server file ID. Protected by mu.
	files map[uint64]*serverFile
	// idle are cached files nobody maps, oldest first. Protected by mu.
	idle      []*serverFile
	idleBytes uint64

	// dirtyMu protects dirtyFiles. It is a leaf lock (taken under
	// serverFile.mu).
	dirtyMu sync.Mutex
	// dirtyFiles are the files with dirty pages or a write-back in
	// flight. Protected by dirtyMu.
	dirtyFiles map[*serverFile]struct{}
	// dirtyPages counts the dirty pages of every file, and writingBack
	// the write-backs in flight (a cheap check before a forwarded call:
	// a read must also wait for a write-back the flusher started).
	// Changed under the file's serverFile.mu.
	dirtyPages  atomic.Int64
	writingBack atomic.Int64
	// kick asks the flusher for an early pass (a dirty range unmapped).
	kick chan struct{}
	// refreshes counts the files whose pages a plan at a new gen
	// refreshed (serverFile.refresh), logged at the client's end.
	refreshes atomic.Uint64
	// pageReads and pageReadBytes count the PageReads sent (each waited
	// for, inside a fault, one that brought a host fd included) and the
	// bytes their replies brought; releases the
	// FileReleases and releasesPosted those of them posted. Logged at
	// the client's end.
	pageReads, pageReadBytes, releases, releasesPosted atomic.Uint64
	// pagesAhead and pagesAheadBytes count the files a plan brought
	// whole (fillWhole) and their bytes. Logged at the client's end.
	pagesAhead, pagesAheadBytes atomic.Uint64
	// forget says a recovery asked that the idle files be dropped before
	// the next look-up (forgetIdle). Set by the recovery, cleared under
	// mu.
	forget atomic.Bool
	// rpc sends PageRead and PageWrite calls (the session; tests replace
	// it). Immutable.
	rpc func(*pb.Call) (*pb.Reply, error)
	// mappedFDs says the first PageRead of a file asks for its host fd
	// (mappedfd.go); takeHostFD claims the fd that came with a reply and
	// postedChangeTo says whether a posted call that may change mapped
	// file id's bytes awaits its reply (the client's; set with
	// mappedFDs). Immutable.
	mappedFDs      bool
	takeHostFD     func(seq uint64) int
	postedChangeTo func(id uint64) bool
	// heldFDs counts the host fds the files hold now, hostFDs those
	// lent in all; hostReads and hostReadBytes count the reads of them
	// and their bytes (logged at the client's end).
	heldFDs                           atomic.Int32
	hostFDs, hostReads, hostReadBytes atomic.Uint64
	// post posts a FileRelease (the session's Post; tests replace it):
	// false if it cannot (a recovery runs, too much is in flight), and
	// the release is then waited for. Nil: never. Immutable.
	post func(*pb.Call) bool
}

func newFileCache(c *client) *fileCache {
	return &fileCache{
		c:              c,
		files:          make(map[uint64]*serverFile),
		dirtyFiles:     make(map[*serverFile]struct{}),
		kick:           make(chan struct{}, 1),
		rpc:            func(call *pb.Call) (*pb.Reply, error) { return c.conn.Call(c.ctx, call) },
		post:           func(call *pb.Call) bool { return c.conn.Post(call, nil) },
		mappedFDs:      !c.cfg.NoMappedFDs,
		takeHostFD:     func(seq uint64) int { return c.conn.takeHostFD(seq) },
		postedChangeTo: c.postedChangeTo,
	}
}

// get returns the file of a plan (id, size bytes long, at generation
// gen) with one reference held by the caller. A file cached at another
// gen and the same size changed on the server by someone else (not
// through this client, which follows its own changes): its pages are
// read again first (serverFile.refresh), so that the caller's new
// mapping shows the file's current contents. ctx is the caller's, for
// the PageReads; the caller holds no mm lock.
//
// data is the whole file if the plan carried it (MmapPlan.file_data: an
// id new to this client, helper makepages): a file made here is filled
// with it, so that its first fault reads nothing. A file cached already
// keeps its pages (the server sends it only with an id it never handed
// before; a recovery forgets what a restored server might hand again).
func (fc *fileCache) get(ctx context.Context, id, size, gen uint64, name string, data []byte) *serverFile {
	fc.mu.Lock()
	fc.forgetIdleLocked()
	if f := fc.files[id]; f != nil {
		f.mu.Lock()
		sameSize, sameGen := f.size == size, f.gen == gen
		f.mu.Unlock()
		if sameSize {
			if f.refs == 0 {
				fc.removeIdleLocked(f)
			}
			f.refs++
			f.plans++
			if f.name == "" {
				f.name = name
			}
			fc.mu.Unlock()
			if !sameGen {
				f.refresh(ctx, gen)
			}
			return f
		}
		// The file changed size on the server (not through this
		// client, which follows its own changes; or this client's own
		// change raced the plan, whose size may then be the older one):
		// its cached pages are stale. Live mappings keep the old
		// object, so that a plan's size older than a change this client
		// made never cuts their pages.
		delete(fc.files, id)
		if f.refs == 0 {
			fc.removeIdleLocked(f)
			f.releasePages()
		}
	}
	f := &serverFile{fc: fc, id: id, size: size, gen: gen, name: name, refs: 1, plans: 1, hostFD: -1}
	fc.files[id] = f
	fc.mu.Unlock()
	if len(data) > 0 {
		f.fillWhole(data)
	}
	return f
}

// fillWhole makes data, the whole file at f's gen (a plan's
// file_data), f's cached pages. Data of another length than the file's
// size is not the whole file: it is dropped (the faults read the file).
func (f *serverFile) fillWhole(data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if uint64(len(data)) != f.size || f.nfilled != 0 {
		return
	}
	if err := f.growLocked(f.endLocked()); err != nil {
		f.fc.c.log.Debug("caching a plan's file data failed", "file", f.id, "err", err)
		return
	}
	if err := f.copyInLocked(0, data); err != nil {
		f.fc.c.log.Debug("caching a plan's file data failed", "file", f.id, "err", err)
		return
	}
	for c := uint64(0); c*cacheChunk < f.size; c++ {
		f.filled[c/64] |= 1 << (c % 64)
		f.nfilled++
	}
	f.fc.pagesAhead.Add(1)
	f.fc.pagesAheadBytes.Add(uint64(len(data)))
}

// release tells the server that this client no longer maps id, which it
// was handed plans times (the server counts one reference per plan).
//
// The release is posted: nothing the application is told depends on its
// reply. The server drops the id's references, or keeps the id until a
// new plan of it (a later mmap of the file) if that comes first, and a
// waited call sent after the release runs after it on the server
// (FileRelease.posted), so an unlink or exec of the file sees it
// unmapped as on Linux. Nothing here waits for it: the client counted
// the plans released already (serverFile.plans is 0), so a kept plan is
// not mapped from the id until a new plan counts one again
// (fileCache.reuse). A recovery re-sends a release whose reply did not
// come to the state Restore rebuilt from the id's last record, which the
// server sends with the reply and not before (sentry/server's
// filerelease.go): each reference is dropped once.
func (fc *fileCache) release(id uint64, plans int) {
	if plans <= 0 {
		return
	}
	ids := make([]uint64, plans)
	for i := range ids {
		ids[i] = id
	}
	fc.releases.Add(1)
	fr := &pb.FileRelease{FileIds: ids, Posted: true}
	call := &pb.Call{Op: &pb.Call_FileRelease{FileRelease: fr}}
	if fc.post != nil && fc.post(call) {
		fc.releasesPosted.Add(1)
		return
	}
	fr.Posted = false
	if _, err := fc.rpc(call); err != nil {
		fc.c.log.Debug("FileRelease failed", "file", id, "err", err)
	}
}

func (fc *fileCache) removeIdleLocked(f *serverFile) {
	for i, g := range fc.idle {
		if g == f {
			fc.idle = append(fc.idle[:i], fc.idle[i+1:]...)
			fc.idleBytes -= f.cachedBytes()
			return
		}
	}
}

// decRef drops a reference. A file nobody maps any more is written back
// and released on the server at once (FileRelease, one id per plan the
// client was handed), so that the server closes it: an unlink after the
// last munmap is then a plain unlink, as on Linux. Its pages stay cached
// here (idle): the server hands out the same id again for the same
// unchanged file, so a later exec or mmap of it finds them. The oldest
// idle files are evicted (pages freed only).
//
// mm calls DecRef with none of its locks held (after munmap, exit), so
// the round trips may run here.
func (fc *fileCache) decRef(f *serverFile) {
	fc.mu.Lock()
	f.refs--
	if f.refs < 0 {
		fc.mu.Unlock()
		panic(fmt.Sprintf("serverFile %d: negative refcount", f.id))
	}
	if f.refs > 0 {
		fc.mu.Unlock()
		return
	}
	plans := f.plans
	f.plans = 0
	if fc.files[f.id] != f {
		// Superseded: nobody can find it again. Its dirty pages, if
		// any, are written back before its pages are freed.
		fc.mu.Unlock()
		go func() {
			if err := f.writeback(context.Background(), wholeFile); err != nil {
				fc.c.log.Debug("write-back of a superseded file failed", "err", err)
			}
			f.releasePages()
			fc.release(f.id, plans)
		}()
		return
	}
	fc.idle = append(fc.idle, f)
	fc.idleBytes += f.cachedBytes()
	for i := 0; i < len(fc.idle) && (len(fc.idle) > maxIdleFiles || fc.idleBytes > maxIdleBytes); {
		old := fc.idle[i]
		if old.isDirty() {
			// Kept until it is written back.
			i++
			continue
		}
		fc.idle = append(fc.idle[:i], fc.idle[i+1:]...)
		fc.idleBytes -= old.cachedBytes()
		delete(fc.files, old.id)
		old.releasePages()
	}
	fc.mu.Unlock()
	if err := f.writeback(context.Background(), wholeFile); err != nil {
		fc.c.log.Debug("write-back of an unmapped file failed", "err", err)
	}
	fc.release(f.id, plans)
}

// forgetIdle asks that the files nobody maps be dropped before the next
// look-up (a recovery: the server that handed their ids is gone). A
// restored server knows only the ids the client maps (their "map/"
// records): it hands the same file a new id, and may hand a released id
// to another file, whose plan of the same size and gen would otherwise
// find the older file's pages here. So are the files mapped with no plan
// counted (a kept plan's reuse whose posted mmap had not come back,
// mmapreuse.go): the restored server holds no reference of them either.
// Their mappings keep them, superseded. The recovery only sets a flag: a
// fault may hold a file's mu across a PageRead waiting for the recovery,
// and fileCache.get waits for that mu holding fc.mu.
func (fc *fileCache) forgetIdle() { fc.forget.Store(true) }

// forgetIdleLocked drops the idle files, and supersedes the files mapped
// with no plan, if forgetIdle asked for it. Dirty idle ones stay until
// written back, as on eviction. Precondition: fc.mu is held.
func (fc *fileCache) forgetIdleLocked() {
	if !fc.forget.CompareAndSwap(true, false) {
		return
	}
	kept := fc.idle[:0]
	for _, f := range fc.idle {
		if f.isDirty() {
			kept = append(kept, f)
			continue
		}
		fc.idleBytes -= f.cachedBytes()
		if fc.files[f.id] == f {
			delete(fc.files, f.id)
		}
		f.releasePages()
	}
	clear(fc.idle[len(kept):])
	fc.idle = kept
	for id, f := range fc.files {
		if f.refs > 0 && f.plans == 0 {
			delete(fc.files, id)
		}
	}
}

// releaseAll frees every cached page (at shutdown, after flushAll).
func (fc *fileCache) releaseAll() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, f := range fc.files {
		f.releasePages()
	}
	fc.files = map[uint64]*serverFile{}
	fc.idle = nil
	fc.idleBytes = 0
}

// noteDirty records that f gained added dirty pages. Precondition: f.mu
// is held.
func (fc *fileCache) noteDirty(f *serverFile, added int) {
	if added == 0 {
		return
	}
	fc.dirtyPages.Add(int64(added))
	fc.dirtyMu.Lock()
	fc.dirtyFiles[f] = struct{}{}
	fc.dirtyMu.Unlock()
}

// noteClean records that f lost removed dirty pages. Precondition: f.mu
// is held.
func (fc *fileCache) noteClean(f *serverFile, removed int) {
	fc.dirtyPages.Add(-int64(removed))
	if f.dirty.count() == 0 && f.writingBack == 0 {
		fc.dirtyMu.Lock()
		delete(fc.dirtyFiles, f)
		fc.dirtyMu.Unlock()
	}
}

// pending says some file has dirty pages or a write-back in flight.
func (fc *fileCache) pending() bool {
	return fc.dirtyPages.Load() != 0 || fc.writingBack.Load() != 0
}

// flushAll writes back every dirty page of every file, and waits for the
// write-backs in flight; it returns the first error.
func (fc *fileCache) flushAll(ctx context.Context) error {
	if !fc.pending() {
		return nil
	}
	fc.dirtyMu.Lock()
	files := make([]*serverFile, 0, len(fc.dirtyFiles))
	for f := range fc.dirtyFiles {
		files = append(files, f)
	}
	fc.dirtyMu.Unlock()
	var first error
	for _, f := range files {
		if err := f.writeback(ctx, wholeFile); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// flusher writes back dirty pages every flushInterval, or when kicked,
// until the client is done.
func (fc *fileCache) flusher() {
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-fc.c.done:
			return
		case <-t.C:
		case <-fc.kick:
		}
		if err := fc.flushAll(context.Background()); err != nil {
			fc.c.log.Debug("background write-back of shared mappings failed", "err", err)
		}
	}
}

// applyChange makes the cached pages of a mapped file follow a change the
// server reported with the reply to a call of this client
// (MappedFileChange): the new size (a shrink drops the pages beyond the
// end from every mapping, so that they fault with SIGBUS, and zeroes
// them) and the new bytes, taken from data (the call's written bytes, nil
// if the call carried none) or read again from the server.
func (fc *fileCache) applyChange(ctx context.Context, ch *pb.MappedFileChange, data []byte) {
	fc.mu.Lock()
	fc.forgetIdleLocked()
	f := fc.files[ch.FileId]
	if f != nil {
		if f.refs == 0 {
			fc.removeIdleLocked(f)
		}
		f.refs++
	}
	fc.mu.Unlock()
	if f == nil {
		return
	}
	defer fc.decRef(f)
	f.applyChange(ctx, ch, data)
}

// wholeFile is every offset of a file, page-aligned.
var wholeFile = memmap.MappableRange{Start: 0, End: ^uint64(0) &^ (hostarch.PageSize - 1)}

// serverFile is a file on the remote sentry mapped by the client (an exec
// segment or a file mmap). It implements memmap.Mappable and
// memmap.MappingIdentity; its pages live in the client's MemoryFile,
// fetched by PageRead on first Translate and then shared by every mapping.
//
// Shared writable mappings: Translate hands out clean pages without write
// permission, so the first store to a page faults; Translate for write
// access marks the page dirty. writeback clears the dirty pages, takes
// them away from every mapping (so that the next store faults again),
// then copies them and sends PageWrite. Stores are thus never lost
// between the copy and the clearing.
//
// Lock order: wbMu > mapsMu > mm's activeMu (MappingSet.Invalidate) > mu
// > fileCache.dirtyMu. mm calls AddMapping and RemoveMapping holding its
// mappingMu (mappingMu > mapsMu) and Translate holding activeMu.
type serverFile struct {
	fc   *fileCache
	id   uint64
	name string
	// refs is protected by fc.mu.
	refs int64
	// plans counts the plans (exec images, mmaps) of this id the client
	// was handed, each a reference the server holds until FileRelease.
	// Protected by fc.mu.
	plans int
	// replans counts the mmaps posted for the server's reference of a
	// reuse (task.postReplan) whose reply is still to come: while one is
	// and a process maps the file, a reuse needs no call, as with plans
	// (the server runs the posted mmap before any later waited call).
	// Protected by fc.mu.
	replans int

	// wbMu serializes the write-backs of the file, so that its PageWrites
	// reach the server one at a time and in order.
	wbMu sync.Mutex

	// mapsMu protects mappings.
	mapsMu sync.Mutex
	// mappings are the address ranges that map the file. Protected by
	// mapsMu.
	mappings memmap.MappingSet

	mu sync.Mutex
	// size is the file's size as this client knows it (from the plan, then
	// from its own changes). Protected by mu.
	size uint64
	// gen is the server's generation of the file (the plan's file_gen)
	// the cached pages are of: set by fileCache.get (refresh) under wbMu,
	// mapsMu and mu. Protected by mu.
	gen uint64
	// exts are the file's cache in the MemoryFile: extent i holds the
	// file offsets following extent i-1's (allocated uncommitted on first
	// use, grown when the file grows; pages never move, so growing needs
	// no invalidation). capacity is their total length. Protected by mu.
	exts     []memmap.FileRange
	capacity uint64
	// filled has a bit per cacheChunk already fetched. Protected by mu.
	filled []uint64
	// nfilled counts filled chunks. Protected by mu.
	nfilled int
	// dirty are the pages stored to through a shared mapping and not yet
	// written back. Protected by mu.
	dirty pageBits
	// writingBack counts write-backs copying or sending pages: a change
	// applied meanwhile re-dirties its range, since the PageWrite in
	// flight may carry older bytes. Protected by mu.
	writingBack int
	// warned is set once a failed write-back was logged. Protected by mu.
	warned bool
	// hostFD is the file's host fd the server lent (mappedfd.go), or -1;
	// askedFD says a PageRead asked for it already (once per file).
	// Protected by mu.
	hostFD  int
	askedFD bool
	// code says the file was mapped executable (an exec image, a
	// PROT_EXEC mmap): its faults fetch codeWindow windows. Set by
	// markCode, never cleared. Protected by mu.
	code bool
}

var _ memmap.Mappable = (*serverFile)(nil)
var _ memmap.MappingIdentity = (*serverFile)(nil)

// endLocked is the size rounded up to a page. Precondition: f.mu is held.
func (f *serverFile) endLocked() uint64 {
	e, _ := hostarch.Addr(f.size).RoundUp()
	return uint64(e)
}

// markCode notes that f is mapped executable (serverFile.code).
func (f *serverFile) markCode() {
	f.mu.Lock()
	f.code = true
	f.mu.Unlock()
}

func (f *serverFile) cachedBytes() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(f.nfilled) * cacheChunk
}

func (f *serverFile) isDirty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dirty.count() > 0 || f.writingBack > 0
}

func (f *serverFile) releasePages() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fr := range f.exts {
		f.fc.c.mf.DecRef(fr)
	}
	f.exts = nil
	f.capacity = 0
	f.filled = nil
	f.nfilled = 0
	f.dropHostFDLocked()
	n := f.dirty.count()
	f.dirty = pageBits{}
	f.fc.noteClean(f, n)
}

// cachedWholeLocked says whether every chunk of the file up to its size
// is cached. Precondition: f.mu is held.
func (f *serverFile) cachedWholeLocked() bool {
	for c := uint64(0); c*cacheChunk < f.size; c++ {
		if !f.isFilled(c) {
			return false
		}
	}
	return true
}

func (f *serverFile) isFilled(chunk uint64) bool {
	w := chunk / 64
	return w < uint64(len(f.filled)) && f.filled[w]&(1<<(chunk%64)) != 0
}

// growLocked makes the cache cover [0, end). Precondition: f.mu is held.
func (f *serverFile) growLocked(end uint64) error {
	if end <= f.capacity {
		return nil
	}
	// Grow geometrically, so that a file written through its mapping
	// while it grows keeps few extents.
	want := max(end, 2*f.capacity)
	wa, ok := hostarch.Addr(want).RoundUp()
	if !ok {
		return &memmap.BusError{Err: unix.EFBIG}
	}
	fr, err := f.fc.c.mf.Allocate(uint64(wa)-f.capacity, pgalloc.AllocOpts{Kind: usage.PageCache, Mode: pgalloc.AllocateUncommitted})
	if err != nil {
		return err
	}
	f.exts = append(f.exts, fr)
	f.capacity = uint64(wa)
	if need := int(f.capacity/cacheChunk/64 + 1); need > len(f.filled) {
		f.filled = append(f.filled, make([]uint64, need-len(f.filled))...)
	}
	return nil
}

// pieces calls fn for each part of [start, end) (within capacity) with
// its range in the MemoryFile. Precondition: f.mu is held.
func (f *serverFile) piecesLocked(start, end uint64, fn func(src memmap.MappableRange, fr memmap.FileRange) error) error {
	end = min(end, f.capacity)
	base := uint64(0)
	for _, ext := range f.exts {
		extEnd := base + ext.Length()
		if s, e := max(start, base), min(end, extEnd); s < e {
			if err := fn(memmap.MappableRange{Start: s, End: e}, memmap.FileRange{Start: ext.Start + s - base, End: ext.Start + e - base}); err != nil {
				return err
			}
		}
		base = extEnd
		if base >= end {
			break
		}
	}
	return nil
}

// copyInLocked copies data into the cache at off: written to the memory
// file at the pages' offset, so that the client does not commit pages it
// never reads in its own address space (hostsplice.go says why), else
// copied through the internal mapping. Precondition: f.mu is held.
func (f *serverFile) copyInLocked(off uint64, data []byte) error {
	return f.piecesLocked(off, off+uint64(len(data)), func(src memmap.MappableRange, fr memmap.FileRange) error {
		piece := data[src.Start-off : src.End-off]
		if fillByFD.Load() {
			n, err := pwriteFull(f.fc.c.mf.FD(), piece, int64(fr.Start))
			if err == nil {
				return nil
			}
			// The rest by the mapping.
			piece, fr.Start = piece[n:], fr.Start+uint64(n)
		}
		dst, err := f.fc.c.mf.MapInternal(fr, hostarch.Write)
		if err != nil {
			return err
		}
		populate(dst)
		_, err = safemem.CopySeq(dst, safemem.BlockSeqOf(safemem.BlockFromSafeSlice(piece)))
		return err
	})
}

// cachePopulate says whether populate commits pages before a copy fills
// them; off once the host refuses it (Linux before 5.14: EINVAL).
var cachePopulate atomic.Bool

func init() { cachePopulate.Store(true) }

// populate commits the pages of bs, the memory file's internal mapping of
// cache pages a copy is about to fill, with one
// madvise(MADV_POPULATE_WRITE) per block of more than a page instead of a
// fault per page as the copy touches them: in a virtual machine a fault
// costs microseconds, and a PageRead of 4 MiB fills 1,024 pages
// (docs/BENCHMARKS.md, "makewall"; BenchmarkCacheFill).
func populate(bs safemem.BlockSeq) {
	if !cachePopulate.Load() {
		return
	}
	for ; !bs.IsEmpty(); bs = bs.Tail() {
		b := bs.Head()
		if b.Len() <= hostarch.PageSize {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, b.Addr(), uintptr(b.Len()), unix.MADV_POPULATE_WRITE); errno != 0 {
			// The copy faults the pages in as before.
			cachePopulate.Store(false)
			return
		}
	}
}

// copyOutLocked returns the cached bytes [off, off+n). Precondition: f.mu
// is held.
func (f *serverFile) copyOutLocked(off, n uint64) ([]byte, error) {
	n = min(n, f.capacity-min(off, f.capacity))
	out := make([]byte, n)
	err := f.piecesLocked(off, off+n, func(src memmap.MappableRange, fr memmap.FileRange) error {
		bs, err := f.fc.c.mf.MapInternal(fr, hostarch.Read)
		if err != nil {
			return err
		}
		_, err = safemem.CopySeq(safemem.BlockSeqOf(safemem.BlockFromSafeSlice(out[src.Start-off:src.End-off])), bs)
		return err
	})
	return out, err
}

// zeroLocked zeroes the cached bytes [start, end) of filled chunks.
// Precondition: f.mu is held.
func (f *serverFile) zeroLocked(start, end uint64) {
	for c := start / cacheChunk; c*cacheChunk < min(end, f.capacity); c++ {
		if !f.isFilled(c) {
			continue
		}
		s, e := max(start, c*cacheChunk), min(end, (c+1)*cacheChunk, f.capacity)
		if s < e {
			if err := f.copyInLocked(s, make([]byte, e-s)); err != nil {
				f.fc.c.log.Warn("zeroing cached file pages failed", "file", f.id, "err", err)
			}
		}
	}
}

// IncRef implements memmap.MappingIdentity.IncRef.
func (f *serverFile) IncRef() {
	f.fc.mu.Lock()
	f.refs++
	f.fc.mu.Unlock()
}

// DecRef implements memmap.MappingIdentity.DecRef.
func (f *serverFile) DecRef(ctx context.Context) { f.fc.decRef(f) }

// MappedName implements memmap.MappingIdentity.MappedName.
func (f *serverFile) MappedName(ctx context.Context) string {
	if f.name != "" {
		return f.name
	}
	return fmt.Sprintf("server-file:%d", f.id)
}

// DeviceID implements memmap.MappingIdentity.DeviceID. It marks the VMAs
// of server files for ProcQuery MAPS (procinfo.go), which names them by
// file id; the server shows the file's real device and inode.
func (f *serverFile) DeviceID() uint64 { return serverFileDevice }

// InodeID implements memmap.MappingIdentity.InodeID.
func (f *serverFile) InodeID() uint64 { return f.id }

// Msync implements memmap.MappingIdentity.Msync: msync(MS_SYNC) writes
// the range back and waits for the server.
func (f *serverFile) Msync(ctx context.Context, mr memmap.MappableRange) error {
	return f.writeback(ctx, mr)
}

// AddMapping implements memmap.Mappable.AddMapping.
func (f *serverFile) AddMapping(ctx context.Context, ms memmap.MappingSpace, ar hostarch.AddrRange, offset uint64, writable bool) error {
	f.mapsMu.Lock()
	f.mappings.AddMapping(ms, ar, offset, writable)
	f.mapsMu.Unlock()
	f.fc.c.mapIndex.add(ms, ar, writable, f, offset)
	return nil
}

// RemoveMapping implements memmap.Mappable.RemoveMapping. Dirty pages of
// a writable mapping going away are written back by the flusher, kicked
// now (mm holds its locks here: no round trip).
func (f *serverFile) RemoveMapping(ctx context.Context, ms memmap.MappingSpace, ar hostarch.AddrRange, offset uint64, writable bool) {
	f.mapsMu.Lock()
	f.mappings.RemoveMapping(ms, ar, offset, writable)
	f.mapsMu.Unlock()
	f.fc.c.mapIndex.remove(ms, ar)
	if writable && f.isDirty() {
		select {
		case f.fc.kick <- struct{}{}:
		default:
		}
	}
}

// CopyMapping implements memmap.Mappable.CopyMapping.
func (f *serverFile) CopyMapping(ctx context.Context, ms memmap.MappingSpace, srcAR, dstAR hostarch.AddrRange, offset uint64, writable bool) error {
	return f.AddMapping(ctx, ms, dstAR, offset, writable)
}

// InvalidateUnsavable implements memmap.Mappable.InvalidateUnsavable.
func (f *serverFile) InvalidateUnsavable(context.Context) error { return nil }

// Translate implements memmap.Mappable.Translate.
func (f *serverFile) Translate(ctx context.Context, required, optional memmap.MappableRange, at hostarch.AccessType) ([]memmap.Translation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.endLocked()
	if required.Start >= end {
		return nil, &memmap.BusError{Err: io.EOF}
	}
	var terr error
	if required.End > end {
		required.End = end
		terr = &memmap.BusError{Err: io.EOF}
	}
	if optional.End > end {
		optional.End = end
	}
	if err := f.growLocked(end); err != nil {
		return nil, err
	}

	fs, fe := f.fetchWindowLocked(required, optional)
	if err := f.fetchLocked(ctx, fs, fe); err != nil {
		return nil, err
	}
	for c := required.Start / cacheChunk; c*cacheChunk < required.End; c++ {
		if !f.isFilled(c) {
			// The server has less of the file than its size said.
			return nil, &memmap.BusError{Err: io.ErrUnexpectedEOF}
		}
	}

	var s, e uint64
	perms := hostarch.ReadExecute
	if at.Write {
		// Only what the store needs becomes writable (and dirty): the
		// other pages keep faulting on their first store.
		s, e = required.Start, required.End
		perms = hostarch.AnyAccess
		f.fc.noteDirty(f, f.dirty.add(required))
	} else {
		// As much of optional as is cached contiguously around required.
		s = required.Start
		for s > optional.Start && f.isFilled((s-1)/cacheChunk) {
			s = max(optional.Start, (s-1)/cacheChunk*cacheChunk)
		}
		e = required.End
		for e < optional.End && f.isFilled(e/cacheChunk) {
			e = min(optional.End, (e/cacheChunk+1)*cacheChunk)
		}
	}
	var ts []memmap.Translation
	f.piecesLocked(s, e, func(src memmap.MappableRange, fr memmap.FileRange) error {
		ts = append(ts, memmap.Translation{Source: src, File: f.fc.c.mf, Offset: fr.Start, Perms: perms})
		return nil
	})
	return ts, terr
}

// fetchWindowLocked returns what a fault in required (within optional,
// both inside the file's page-rounded end) fetches: the whole file if it
// is small; for a larger file mapped executable, the aligned codeWindow
// windows that hold required; else required plus readahead within
// optional. The start is a chunk's. Precondition: f.mu is held.
func (f *serverFile) fetchWindowLocked(required, optional memmap.MappableRange) (start, end uint64) {
	fileEnd := f.endLocked()
	switch {
	case f.size <= wholeFileMax:
		return 0, fileEnd
	case f.code:
		return required.Start / codeWindow * codeWindow, min(fileEnd, (required.End+codeWindow-1)/codeWindow*codeWindow)
	}
	start, end = required.Start/cacheChunk*cacheChunk, required.End
	if ra := min(optional.End, required.End+readahead); ra > end {
		end = ra
	}
	return start, end
}

// fetchLocked makes chunks overlapping [start, end) present, as far as
// the server gives them.
//
// A PageRead may come back short of the file's size (the server's gofer
// read failed part way, or the file shrank on the server): the rest is
// asked for again, and a chunk counts as present only once every byte of
// it up to the file's size came. Zeros are never passed off as the
// file's bytes: an executable's text read short would run them. The
// caller checks that what it needs is present (a bus error otherwise).
//
// Preconditions: f.mu is locked.
func (f *serverFile) fetchLocked(ctx context.Context, start, end uint64) error {
	fileEnd := f.endLocked()
	for c := start / cacheChunk; c*cacheChunk < end && c*cacheChunk < fileEnd; {
		if f.isFilled(c) {
			c++
			continue
		}
		// A run of missing chunks.
		first := c
		for c*cacheChunk < end && c*cacheChunk < fileEnd && !f.isFilled(c) && (c-first)*cacheChunk < maxPageRead {
			c++
		}
		off := first * cacheChunk
		runEnd := min(c*cacheChunk, fileEnd)
		// The bytes end at the file's size: the rest of its last page
		// stays zero, and asking for it would be a round trip for
		// nothing (a whole-file read came back at the size, and the
		// loop asked again from there).
		dataEnd := min(runEnd, f.size)
		pos := off
		for pos < dataEnd {
			n, err := f.readLocked(ctx, pos, dataEnd-pos)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			pos += n
		}
		for i := first; i < c && min((i+1)*cacheChunk, f.size) <= pos; i++ {
			f.filled[i/64] |= 1 << (i % 64)
			f.nfilled++
		}
		if pos < min(runEnd, f.size) {
			f.fc.c.log.Error("mapped file read short of its size", "file", f.name, "id", f.id, "offset", off, "length", runEnd-off, "got", pos-off, "size", f.size)
		}
	}
	return nil
}

// callTid is the calling thread's tid (0 outside a task).
func callTid(ctx context.Context) int32 {
	if t, ok := ctx.Value(taskKey{}).(*task); ok {
		return t.tid
	}
	return 0
}

// readLocked fetches [off, off+length) from the server into the cache and
// returns how many bytes came (fewer at the end of the file).
//
// Preconditions: f.mu is locked.
func (f *serverFile) readLocked(ctx context.Context, off, length uint64) (uint64, error) {
	if f.hostFD >= 0 && !f.fc.postedChangeTo(f.id) {
		n, err := f.readHostLocked(off, length)
		if err == nil {
			return n, nil
		}
		f.fc.c.log.Warn("reading a mapped file through its host fd failed; its pages are read from the server from now on", "file", f.name, "id", f.id, "err", err)
		f.dropHostFDLocked()
	}
	wantFD := f.wantHostFDLocked()
	f.askedFD = f.askedFD || wantFD
	f.fc.pageReads.Add(1)
	reply, err := f.fc.rpc(&pb.Call{Tid: callTid(ctx), Op: &pb.Call_PageRead{PageRead: &pb.PageRead{
		FileId: f.id, Offset: off, Length: uint32(length), WantFd: wantFD,
	}}})
	if err != nil {
		return 0, &memmap.BusError{Err: err}
	}
	if reply.HostFd {
		// The file's fd came instead of its bytes (mappedfd.go): read
		// through it, or, if it did not come or is not what was asked,
		// ask again (askedFD is set: the bytes come).
		if fd := f.fc.takeHostFD(reply.Seq); fd >= 0 {
			f.adoptHostFDLocked(fd)
		}
		return f.readLocked(ctx, off, length)
	}
	if reply.Errno != 0 {
		return 0, &memmap.BusError{Err: unix.Errno(reply.Errno)}
	}
	data := reply.GetData()
	if uint64(len(data)) > length {
		data = data[:length]
	}
	if len(data) == 0 {
		return 0, nil
	}
	f.fc.pageReadBytes.Add(uint64(len(data)))
	return uint64(len(data)), f.copyInLocked(off, data)
}

// writeback writes the dirty pages of f within mr back to the server and
// waits for it. The pages are first taken away from every mapping, so a
// store made while they are copied or sent faults and dirties them again.
// A page that cannot be written back is dropped with a warning (as Linux
// drops a page whose writeback failed) and the error returned.
func (f *serverFile) writeback(ctx context.Context, mr memmap.MappableRange) error {
	f.wbMu.Lock()
	defer f.wbMu.Unlock()
	f.mapsMu.Lock()
	f.mu.Lock()
	runs := f.dirty.take(mr)
	if len(runs) == 0 {
		f.mu.Unlock()
		f.mapsMu.Unlock()
		return nil
	}
	n := 0
	for _, r := range runs {
		n += int(r.Length() / hostarch.PageSize)
	}
	f.writingBack++
	f.fc.writingBack.Add(1)
	f.fc.noteClean(f, n)
	f.mu.Unlock()
	for _, r := range runs {
		f.mappings.Invalidate(r, memmap.InvalidateOpts{})
	}
	f.mapsMu.Unlock()
	defer func() {
		f.mu.Lock()
		f.writingBack--
		f.fc.writingBack.Add(-1)
		f.fc.noteClean(f, 0)
		f.mu.Unlock()
	}()

	c := f.fc.c
	var first error
	for _, r := range runs {
		for off := r.Start; off < r.End; off += maxPageWrite {
			f.mu.Lock()
			// Bytes beyond the file's end are never written back.
			n := min(r.End, off+maxPageWrite, f.size) - min(off, f.size)
			var data []byte
			var err error
			if n > 0 {
				data, err = f.copyOutLocked(off, n)
			}
			f.mu.Unlock()
			if err == nil && len(data) > 0 {
				var reply *pb.Reply
				reply, err = f.fc.rpc(&pb.Call{Tid: callTid(ctx), Op: &pb.Call_PageWrite{PageWrite: &pb.PageWrite{
					FileId: f.id, Offset: off, Data: data,
				}}})
				if err == nil && reply.Errno != 0 {
					err = unix.Errno(reply.Errno)
				}
			}
			if err != nil {
				f.mu.Lock()
				if !f.warned {
					f.warned = true
					c.log.Warn("write-back of a shared file mapping failed; the stores are lost", "file", f.MappedName(ctx), "offset", off, "err", err)
				}
				f.mu.Unlock()
				if first == nil {
					first = err
				}
			}
		}
	}
	if first != nil {
		return fmt.Errorf("write back %s: %w", f.MappedName(ctx), first)
	}
	return nil
}

// refresh makes f's cached pages those of generation gen of the file,
// whose size did not change: the chunks with no dirty page are fetched
// again when next needed, the clean pages of the others read again now
// (a dirty page keeps this client's stores, to be written back over the
// other's: last write-back wins per page, as between two Linux hosts);
// then every translation but the mappings' private copies goes, so that
// private mappings not yet written to and shared ones fault the current
// pages in, as on Linux where they map the page cache.
//
// wbMu first: a write-back in flight took its pages out of dirty, and
// they must not be fetched over before the server has them.
func (f *serverFile) refresh(ctx context.Context, gen uint64) {
	f.wbMu.Lock()
	defer f.wbMu.Unlock()
	f.mapsMu.Lock()
	defer f.mapsMu.Unlock()
	f.mu.Lock()
	if f.gen == gen {
		// Another mmap of the same plan refreshed it.
		f.mu.Unlock()
		return
	}
	f.gen = gen
	f.fc.refreshes.Add(1)
	end := f.endLocked()
	for c := uint64(0); c*cacheChunk < f.capacity; c++ {
		if !f.isFilled(c) {
			continue
		}
		cs, ce := c*cacheChunk, min((c+1)*cacheChunk, end)
		if !f.dirtyInLocked(cs, ce) {
			f.filled[c/64] &^= 1 << (c % 64)
			f.nfilled--
			continue
		}
		for s := cs; s < ce; {
			if f.dirty.has(s / hostarch.PageSize) {
				s += hostarch.PageSize
				continue
			}
			e := s + hostarch.PageSize
			for e < ce && !f.dirty.has(e/hostarch.PageSize) {
				e += hostarch.PageSize
			}
			e = min(e, ce)
			if n, err := f.readLocked(ctx, s, e-s); err != nil || (n < e-s && s+n < f.size) {
				f.fc.c.log.Warn("re-reading the clean pages of a changed file failed", "file", f.id, "offset", s, "length", e-s, "got", n, "err", err)
			}
			s = e
		}
	}
	f.mu.Unlock()
	f.mappings.Invalidate(wholeFile, memmap.InvalidateOpts{InvalidatePrivate: false})
}

// dirtyInLocked says whether a page of [start, end) is dirty.
// Precondition: f.mu is held.
func (f *serverFile) dirtyInLocked(start, end uint64) bool {
	for p := start / hostarch.PageSize; p*hostarch.PageSize < end; p++ {
		if f.dirty.has(p) {
			return true
		}
	}
	return false
}

// applyChange: see fileCache.applyChange.
func (f *serverFile) applyChange(ctx context.Context, ch *pb.MappedFileChange, data []byte) {
	f.mapsMu.Lock()
	defer f.mapsMu.Unlock()
	f.mu.Lock()
	oldSize, oldEnd := f.size, f.endLocked()
	f.size = ch.Size
	newEnd := f.endLocked()
	f.mu.Unlock()
	if newEnd < oldEnd {
		// Pages beyond the new end fault again (SIGBUS), in private
		// mappings too, as Linux's truncate unmaps them.
		f.mappings.Invalidate(memmap.MappableRange{Start: newEnd, End: oldEnd}, memmap.InvalidateOpts{InvalidatePrivate: true})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch.Size < oldSize {
		f.zeroLocked(ch.Size, oldEnd)
		n := 0
		for _, r := range f.dirty.take(memmap.MappableRange{Start: newEnd, End: wholeFile.End}) {
			n += int(r.Length() / hostarch.PageSize)
		}
		f.fc.noteClean(f, n)
	}
	if ch.Length == 0 || f.capacity == 0 {
		return
	}
	// A filled chunk holds the file's bytes up to min(its end, the
	// file's end) in capacity. Capacity ends at the page-rounded end of
	// the last Translate, so a change that grows the file (a child's
	// write past the end while its parent maps the file) must extend it
	// over the rest of the last filled chunk first: clipped there, its
	// bytes would read as zeros, the chunk being filled.
	if last := (f.capacity - 1) / cacheChunk; newEnd > f.capacity && f.isFilled(last) {
		if err := f.growLocked(min(newEnd, (last+1)*cacheChunk)); err != nil {
			// Not unfilled: its dirty pages would be fetched over.
			f.fc.c.log.Warn("growing cached file pages failed: the grown part of the last cached chunk reads as zeros", "file", f.id, "size", ch.Size, "err", err)
		}
	}
	start, end := ch.Offset, min(ch.Offset+ch.Length, f.capacity)
	if uint64(len(data)) >= ch.Length {
		// The call's own bytes: copied into the chunks already cached
		// (the others are fetched when first needed).
		for c := start / cacheChunk; c*cacheChunk < end; c++ {
			if !f.isFilled(c) {
				continue
			}
			s, e := max(start, c*cacheChunk), min(end, (c+1)*cacheChunk)
			if err := f.copyInLocked(s, data[s-ch.Offset:e-ch.Offset]); err != nil {
				f.fc.c.log.Warn("updating cached file pages failed", "file", f.id, "err", err)
			}
		}
	} else {
		// Read exactly the changed bytes again: the rest of each page
		// may hold stores not yet written back.
		for c := start / cacheChunk; c*cacheChunk < end; c++ {
			if !f.isFilled(c) {
				continue
			}
			s, e := max(start, c*cacheChunk), min(end, (c+1)*cacheChunk)
			if n, err := f.readLocked(ctx, s, e-s); err != nil || (n < e-s && s+n < f.size) {
				f.fc.c.log.Warn("re-reading changed file pages failed", "file", f.id, "offset", s, "length", e-s, "got", n, "err", err)
			}
		}
	}
	// The changed pages are dirty, whether or not a write-back is in
	// flight now: one that copied them before this call's bytes reached
	// the gofer may land after them, and may already have finished (its
	// reply can beat this one), leaving older bytes on disk. The next
	// write-back sends them again from the cache, which has them.
	f.fc.noteDirty(f, f.dirty.add(memmap.MappableRange{Start: start, End: min(end, newEnd)}))
}

// anonShared backs a MAP_SHARED|MAP_ANONYMOUS mapping: zero-filled pages
// in the MemoryFile shared by every mapping, including across fork.
type anonShared struct {
	c    *client
	id   uint64
	size uint64
	refs atomic.Int64
	fr   memmap.FileRange

	mu sync.Mutex
}

func newAnonShared(c *client, length uint64) *anonShared {
	l, _ := hostarch.Addr(length).RoundUp()
	m := &anonShared{c: c, id: c.nextAnonID.Add(1), size: uint64(l)}
	m.refs.Store(1)
	return m
}

var _ memmap.Mappable = (*anonShared)(nil)
var _ memmap.MappingIdentity = (*anonShared)(nil)

// IncRef implements memmap.MappingIdentity.IncRef.
func (m *anonShared) IncRef() { m.refs.Add(1) }

// DecRef implements memmap.MappingIdentity.DecRef.
func (m *anonShared) DecRef(ctx context.Context) {
	if m.refs.Add(-1) == 0 {
		m.mu.Lock()
		if m.fr.Length() != 0 {
			m.c.mf.DecRef(m.fr)
			m.fr = memmap.FileRange{}
		}
		m.mu.Unlock()
	}
}

// MappedName implements memmap.MappingIdentity.MappedName.
func (m *anonShared) MappedName(ctx context.Context) string { return "/dev/zero (deleted)" }

// DeviceID implements memmap.MappingIdentity.DeviceID.
func (m *anonShared) DeviceID() uint64 { return 0 }

// InodeID implements memmap.MappingIdentity.InodeID.
func (m *anonShared) InodeID() uint64 { return m.id }

// Msync implements memmap.MappingIdentity.Msync.
func (m *anonShared) Msync(ctx context.Context, mr memmap.MappableRange) error { return nil }

// AddMapping implements memmap.Mappable.AddMapping.
func (m *anonShared) AddMapping(_ context.Context, ms memmap.MappingSpace, ar hostarch.AddrRange, off uint64, writable bool) error {
	m.c.mapIndex.add(ms, ar, writable, m, off)
	return nil
}

// zero makes the pages of mr read as zeros in every mapping
// (MADV_REMOVE: Linux punches the hole in the shmem file).
func (m *anonShared) zero(mr memmap.MappableRange) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mr.End = min(mr.End, m.size)
	if m.fr.Length() == 0 || mr.Start >= mr.End {
		return // never touched: zeros already
	}
	m.c.mf.Decommit(memmap.FileRange{Start: m.fr.Start + mr.Start, End: m.fr.Start + mr.End})
}

// RemoveMapping implements memmap.Mappable.RemoveMapping.
func (m *anonShared) RemoveMapping(_ context.Context, ms memmap.MappingSpace, ar hostarch.AddrRange, _ uint64, _ bool) {
	m.c.mapIndex.remove(ms, ar)
}

// CopyMapping implements memmap.Mappable.CopyMapping.
func (m *anonShared) CopyMapping(ctx context.Context, ms memmap.MappingSpace, _, dstAR hostarch.AddrRange, off uint64, writable bool) error {
	return m.AddMapping(ctx, ms, dstAR, off, writable)
}

// InvalidateUnsavable implements memmap.Mappable.InvalidateUnsavable.
func (m *anonShared) InvalidateUnsavable(context.Context) error { return nil }

// Translate implements memmap.Mappable.Translate.
func (m *anonShared) Translate(ctx context.Context, required, optional memmap.MappableRange, at hostarch.AccessType) ([]memmap.Translation, error) {
	if required.Start >= m.size {
		return nil, &memmap.BusError{Err: io.EOF}
	}
	var terr error
	if required.End > m.size {
		required.End = m.size
		terr = &memmap.BusError{Err: io.EOF}
	}
	if optional.End > m.size {
		optional.End = m.size
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fr.Length() == 0 {
		fr, err := m.c.mf.Allocate(m.size, pgalloc.AllocOpts{Kind: usage.Anonymous, Mode: pgalloc.AllocateUncommitted})
		if err != nil {
			return nil, err
		}
		m.fr = fr
	}
	return []memmap.Translation{{
		Source: optional,
		File:   m.c.mf,
		Offset: m.fr.Start + optional.Start,
		Perms:  hostarch.AnyAccess,
	}}, terr
}
