package client

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

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
	// maxPageRead bounds one PageRead.
	maxPageRead = 8 << 20
	// Idle files (no mapping left) kept cached, by count and bytes.
	maxIdleFiles = 32
	maxIdleBytes = 256 << 20
)

// taskKey is the gVisor context key for the calling *task.
type taskKey struct{}

// fileCache holds the client's copies of server files' pages, shared by
// every process of this client (measured: exec through a Mappable whose
// pages are fetched once).
type fileCache struct {
	c  *client
	mu sync.Mutex
	// files are the cached files by server file ID. Protected by mu.
	files map[uint64]*serverFile
	// idle are cached files nobody maps, oldest first. Protected by mu.
	idle      []*serverFile
	idleBytes uint64
}

func newFileCache(c *client) *fileCache {
	return &fileCache{c: c, files: make(map[uint64]*serverFile)}
}

// get returns the file with one reference held by the caller.
func (fc *fileCache) get(id, size uint64, name string) *serverFile {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.files[id]; f != nil {
		if f.size == size {
			if f.refs == 0 {
				fc.removeIdleLocked(f)
			}
			f.refs++
			if f.name == "" {
				f.name = name
			}
			return f
		}
		// The file changed size on the server: its cached pages are
		// stale. Live mappings keep the old object.
		delete(fc.files, id)
		if f.refs == 0 {
			fc.removeIdleLocked(f)
			f.releasePages()
		}
	}
	f := &serverFile{fc: fc, id: id, size: size, name: name, refs: 1}
	fc.files[id] = f
	return f
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

// decRef drops a reference; unmapped files go idle and the oldest idle
// files are evicted (their pages freed, FileRelease sent).
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
	var evicted []uint64
	if fc.files[f.id] != f {
		// Superseded: nobody can find it again.
		f.releasePages()
	} else {
		fc.idle = append(fc.idle, f)
		fc.idleBytes += f.cachedBytes()
		for len(fc.idle) > maxIdleFiles || fc.idleBytes > maxIdleBytes {
			old := fc.idle[0]
			fc.idle = fc.idle[1:]
			fc.idleBytes -= old.cachedBytes()
			delete(fc.files, old.id)
			old.releasePages()
			evicted = append(evicted, old.id)
		}
	}
	fc.mu.Unlock()
	if len(evicted) > 0 {
		c := fc.c
		go c.conn.Call(c.ctx, &pb.Call{Op: &pb.Call_FileRelease{FileRelease: &pb.FileRelease{FileIds: evicted}}})
	}
}

// releaseAll frees every cached page (at shutdown).
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

// serverFile is a file on the remote sentry mapped by the client (an exec
// segment or a file mmap). It implements memmap.Mappable and
// memmap.MappingIdentity; its pages live in the client's MemoryFile,
// fetched by PageRead on first Translate and then shared by every mapping.
//
// Writes through a MAP_SHARED writable mapping change only the client's
// copy; they are not written back to the server.
type serverFile struct {
	fc   *fileCache
	id   uint64
	size uint64
	name string
	// refs is protected by fc.mu.
	refs int64

	mu sync.Mutex
	// fr is the file's range in the MemoryFile (allocated uncommitted on
	// first use, covering the whole file). Protected by mu.
	fr memmap.FileRange
	// filled has a bit per cacheChunk already fetched. Protected by mu.
	filled []uint64
	// nfilled counts filled chunks. Protected by mu.
	nfilled int
}

var _ memmap.Mappable = (*serverFile)(nil)
var _ memmap.MappingIdentity = (*serverFile)(nil)

func (f *serverFile) end() uint64 {
	e, _ := hostarch.Addr(f.size).RoundUp()
	return uint64(e)
}

func (f *serverFile) cachedBytes() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(f.nfilled) * cacheChunk
}

func (f *serverFile) releasePages() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fr.Length() != 0 {
		f.fc.c.mf.DecRef(f.fr)
		f.fr = memmap.FileRange{}
		f.filled = nil
		f.nfilled = 0
	}
}

func (f *serverFile) isFilled(chunk uint64) bool {
	return f.filled[chunk/64]&(1<<(chunk%64)) != 0
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

// Msync implements memmap.MappingIdentity.Msync.
func (f *serverFile) Msync(ctx context.Context, mr memmap.MappableRange) error { return nil }

// AddMapping implements memmap.Mappable.AddMapping.
func (f *serverFile) AddMapping(context.Context, memmap.MappingSpace, hostarch.AddrRange, uint64, bool) error {
	return nil
}

// RemoveMapping implements memmap.Mappable.RemoveMapping.
func (f *serverFile) RemoveMapping(context.Context, memmap.MappingSpace, hostarch.AddrRange, uint64, bool) {
}

// CopyMapping implements memmap.Mappable.CopyMapping.
func (f *serverFile) CopyMapping(context.Context, memmap.MappingSpace, hostarch.AddrRange, hostarch.AddrRange, uint64, bool) error {
	return nil
}

// InvalidateUnsavable implements memmap.Mappable.InvalidateUnsavable.
func (f *serverFile) InvalidateUnsavable(context.Context) error { return nil }

// Translate implements memmap.Mappable.Translate.
func (f *serverFile) Translate(ctx context.Context, required, optional memmap.MappableRange, at hostarch.AccessType) ([]memmap.Translation, error) {
	end := f.end()
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

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fr.Length() == 0 {
		fr, err := f.fc.c.mf.Allocate(end, pgalloc.AllocOpts{Kind: usage.PageCache, Mode: pgalloc.AllocateUncommitted})
		if err != nil {
			return nil, err
		}
		f.fr = fr
		f.filled = make([]uint64, (end/cacheChunk+1+63)/64)
	}

	// What to fetch: the whole file if small, else the required range
	// plus readahead within optional.
	fs, fe := required.Start, required.End
	if f.size <= wholeFileMax {
		fs, fe = 0, end
	} else if ra := min(optional.End, required.End+readahead); ra > fe {
		fe = ra
	}
	fs = fs / cacheChunk * cacheChunk
	if err := f.fetchLocked(ctx, fs, fe); err != nil {
		return nil, err
	}

	// Translate as much of optional as is cached contiguously around
	// required.
	s := required.Start
	for s > optional.Start && f.isFilled((s-1)/cacheChunk) {
		s = max(optional.Start, (s-1)/cacheChunk*cacheChunk)
	}
	e := required.End
	for e < optional.End && f.isFilled(e/cacheChunk) {
		e = min(optional.End, (e/cacheChunk+1)*cacheChunk)
	}
	return []memmap.Translation{{
		Source: memmap.MappableRange{Start: s, End: e},
		File:   f.fc.c.mf,
		Offset: f.fr.Start + s,
		Perms:  hostarch.AnyAccess,
	}}, terr
}

// fetchLocked makes chunks overlapping [start, end) present.
//
// Preconditions: f.mu is locked.
func (f *serverFile) fetchLocked(ctx context.Context, start, end uint64) error {
	fileEnd := f.end()
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
		length := min(c*cacheChunk, fileEnd) - off
		if err := f.readLocked(ctx, off, length); err != nil {
			return err
		}
		for i := first; i < c; i++ {
			f.filled[i/64] |= 1 << (i % 64)
			f.nfilled++
		}
	}
	return nil
}

// readLocked fetches [off, off+length) from the server into the cache.
func (f *serverFile) readLocked(ctx context.Context, off, length uint64) error {
	c := f.fc.c
	var tid int32
	if t, ok := ctx.Value(taskKey{}).(*task); ok {
		tid = t.tid
	}
	reply, err := c.conn.Call(c.ctx, &pb.Call{Tid: tid, Op: &pb.Call_PageRead{PageRead: &pb.PageRead{
		FileId: f.id, Offset: off, Length: uint32(length),
	}}})
	if err != nil {
		return &memmap.BusError{Err: err}
	}
	if reply.Errno != 0 {
		return &memmap.BusError{Err: unix.Errno(reply.Errno)}
	}
	data := reply.GetData()
	if uint64(len(data)) > length {
		data = data[:length]
	}
	if len(data) == 0 {
		return nil
	}
	dst, err := c.mf.MapInternal(memmap.FileRange{Start: f.fr.Start + off, End: f.fr.Start + off + uint64(len(data))}, hostarch.Write)
	if err != nil {
		return err
	}
	_, err = safemem.CopySeq(dst, safemem.BlockSeqOf(safemem.BlockFromSafeSlice(data)))
	return err
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
func (m *anonShared) AddMapping(context.Context, memmap.MappingSpace, hostarch.AddrRange, uint64, bool) error {
	return nil
}

// RemoveMapping implements memmap.Mappable.RemoveMapping.
func (m *anonShared) RemoveMapping(context.Context, memmap.MappingSpace, hostarch.AddrRange, uint64, bool) {
}

// CopyMapping implements memmap.Mappable.CopyMapping.
func (m *anonShared) CopyMapping(context.Context, memmap.MappingSpace, hostarch.AddrRange, hostarch.AddrRange, uint64, bool) error {
	return nil
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
