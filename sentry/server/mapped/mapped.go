package mapped

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Description is what a mapped file is read and written through: an open
// file description, counted by reference.
type Description interface {
	comparable
	IncRef()
	DecRef()
}

// Key identifies file contents, so that every process mapping the same
// unchanged binary gets the same id and shares the client's cached
// pages. Ctime is there as well as Mtime because a write, a truncate and
// a utimensat back to the old mtime all move it: a same-size rewrite
// within one mtime tick is then still seen, unless ctime too stays in
// its tick.
type Key struct {
	Dev, Ino, Size uint64
	Mtime, Ctime   int64
}

// mappedFile is a file the client maps (an exec image or a file mmap),
// read with PageRead and, when mapped shared and writable, written back
// with PageWrite.
type mappedFile[F Description] struct {
	id uint64
	f  F
	// wf is a writable description of the file, set (with a reference)
	// the first time the client maps it shared from a writable fd:
	// PageWrite writes through it. Protected by Table.mu.
	wf    F
	hasWF bool
	// key is the file's identity and version as last seen (at mmap, or
	// after a change this client made). Protected by Table.mu.
	key Key
	// gen counts the times Add found the file changed by someone other
	// than this client (its key moved without Changed): the client reads
	// the id's pages again when the gen it is handed differs from the one
	// its pages are of. Protected by Table.mu.
	gen  uint64
	refs int
}

// maxReleased bounds Table.released.
const maxReleased = 1024

// Table maps the ids of the files a client maps to their descriptions.
// Each id handed out (in an ExecPlan image or interp, or an MmapPlan)
// counts one reference; each id listed in FileRelease drops one.
type Table[F Description] struct {
	// changed is called with the id of each mapped file whose replay
	// record changed. Immutable.
	changed func(id uint64)
	// mu protects the fields below. It is a leaf lock.
	mu    sync.Mutex
	last  uint64
	byID  map[uint64]*mappedFile[F]
	byKey map[Key]*mappedFile[F]
	// released remembers the ids of released files by key (oldest first
	// in releasedOrder, at most maxReleased), so that the same unchanged
	// file mapped again gets its old id and the client, which keeps the
	// pages of files it no longer maps, finds them.
	released      map[Key]releasedFile
	releasedOrder []Key
}

// releasedFile is the id and gen a released file had, handed again with
// it so that the client's idle pages of that id stay valid.
type releasedFile struct {
	id, gen uint64
}

// NewTable returns an empty table that reports each changed id to
// changed.
func NewTable[F Description](changed func(id uint64)) *Table[F] {
	return &Table[F]{
		changed:  changed,
		byID:     make(map[uint64]*mappedFile[F]),
		byKey:    make(map[Key]*mappedFile[F]),
		released: make(map[Key]releasedFile),
	}
}

// Holds reports whether a mapped file has inode number ino.
func (m *Table[F]) Holds(ino uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mf := range m.byID {
		if mf.key.Ino == ino {
			return true
		}
	}
	return false
}

// Add registers f, whose contents are key (consuming the caller's
// reference), and returns its id and gen. sharedWrite says the client
// maps it shared from a writable description, which PageWrite then
// writes through.
func (m *Table[F]) Add(f F, key Key, sharedWrite bool) (id, gen uint64) {
	id, gen, _ = m.AddFresh(f, key, sharedWrite)
	return id, gen
}

// AddFresh is Add, and says whether the id is new: neither mapped by the
// client nor remembered as released, so that the client holds none of
// its pages (a plan of it may carry them: MmapPlan.file_data).
func (m *Table[F]) AddFresh(f F, key Key, sharedWrite bool) (id, gen uint64, fresh bool) {
	m.mu.Lock()
	mf := m.byKey[key]
	if mf == nil {
		// The client maps this file already, but saw another version
		// (another process's write-back landed between this mmap's stat
		// and its note in Changed, or someone else changed the file): it
		// keeps its id, so that the client has one page cache per file
		// as Linux has one per inode; two would lose each other's stores.
		// Its gen moves, so that the client reads its cached pages
		// again: this client's own changes reached them (Changed keeps
		// the key current), others' did not.
		if mf = m.liveLocked(key.Dev, key.Ino); mf != nil {
			if m.byKey[mf.key] == mf {
				delete(m.byKey, mf.key)
			}
			if mf.key != key {
				mf.gen++
			}
			mf.key = key
			m.byKey[key] = mf
		}
	}
	if mf != nil {
		mf.refs++
		if sharedWrite && !mf.hasWF {
			f.IncRef()
			mf.wf, mf.hasWF = f, true
		}
		id, gen = mf.id, mf.gen
		m.mu.Unlock()
		m.changed(id)
		f.DecRef()
		return id, gen, false
	}
	rf, ok := m.released[key]
	if !ok || m.byID[rf.id] != nil {
		m.last++
		rf = releasedFile{id: m.last}
		fresh = true
	}
	delete(m.released, key)
	mf = &mappedFile[F]{id: rf.id, f: f, key: key, gen: rf.gen, refs: 1}
	if sharedWrite {
		f.IncRef()
		mf.wf, mf.hasWF = f, true
	}
	m.byID[mf.id] = mf
	m.byKey[key] = mf
	m.mu.Unlock()
	m.changed(mf.id)
	return mf.id, mf.gen, fresh
}

// Insert registers f under id with refs references (Restore), consuming
// the caller's reference; a writable f also backs PageWrite.
func (m *Table[F]) Insert(id uint64, f F, key Key, refs int, writable bool) {
	m.mu.Lock()
	if old := m.byID[id]; old != nil {
		m.mu.Unlock()
		f.DecRef()
		return
	}
	mf := &mappedFile[F]{id: id, f: f, key: key, refs: max(refs, 1)}
	if writable {
		f.IncRef()
		mf.wf, mf.hasWF = f, true
	}
	m.byID[id] = mf
	if m.byKey[key] == nil {
		m.byKey[key] = mf
	}
	m.last = max(m.last, id)
	m.mu.Unlock()
}

// State is what the replay record of a mapped file says.
type State[F Description] struct {
	// File is the mapped description (no reference is taken).
	File     F
	Refs     int
	Size     uint64
	Writable bool
}

// StateOf returns the state of mapped file id, false if it is gone.
func (m *Table[F]) StateOf(id uint64) (State[F], bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mf := m.byID[id]
	if mf == nil {
		return State[F]{}, false
	}
	return State[F]{File: mf.f, Refs: mf.refs, Size: mf.key.Size, Writable: mf.hasWF}, true
}

// Get returns a reference to the description of id (EBADF if there is
// none).
func (m *Table[F]) Get(id uint64) (F, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mf := m.byID[id]
	if mf == nil {
		var none F
		return none, unix.EBADF
	}
	mf.f.IncRef()
	return mf.f, nil
}

// GetWritable returns a reference to the writable description of id
// (EBADF if there is no id, EACCES if it is not mapped shared from a
// writable description).
func (m *Table[F]) GetWritable(id uint64) (F, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var none F
	mf := m.byID[id]
	if mf == nil {
		return none, unix.EBADF
	}
	if !mf.hasWF {
		return none, unix.EACCES
	}
	mf.wf.IncRef()
	return mf.wf, nil
}

// Lookup returns a reference to the description of id with the device
// and inode number it was mapped as; false if there is no id.
func (m *Table[F]) Lookup(id uint64) (f F, dev, ino uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mf := m.byID[id]
	if mf == nil {
		return f, 0, 0, false
	}
	mf.f.IncRef()
	return mf.f, mf.key.Dev, mf.key.Ino, true
}

// Files returns the mapped descriptions, without references: for a
// look at what they are, while the caller's state keeps them alive.
func (m *Table[F]) Files() []F {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]F, 0, len(m.byID))
	for _, mf := range m.byID {
		out = append(out, mf.f)
	}
	return out
}

// liveLocked returns a mapped file with device dev and inode number ino,
// or nil. Precondition: m.mu is held.
func (m *Table[F]) liveLocked(dev, ino uint64) *mappedFile[F] {
	for _, mf := range m.byID {
		if mf.key.Dev == dev && mf.key.Ino == ino {
			return mf
		}
	}
	return nil
}

// WritablesOf returns references to the writable descriptions of the
// mapped files with inode number ino (PageWrite's).
func (m *Table[F]) WritablesOf(ino uint64) []F {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []F
	for _, mf := range m.byID {
		if mf.hasWF && mf.key.Ino == ino {
			mf.wf.IncRef()
			out = append(out, mf.wf)
		}
	}
	return out
}

// Changed notes that this client changed the file whose contents are now
// key: every mapped id of that file (same device and inode number) takes
// key's size and mtime as its version, so that a later mmap of the file
// shares the client's page cache, and the ids other than except are
// returned, for the client to update its cached pages.
func (m *Table[F]) Changed(key Key, except uint64) []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []uint64
	for _, mf := range m.byID {
		if mf.key.Ino != key.Ino || mf.key.Dev != key.Dev {
			continue
		}
		if m.byKey[mf.key] == mf {
			delete(m.byKey, mf.key)
		}
		mf.key.Size, mf.key.Mtime, mf.key.Ctime = key.Size, key.Mtime, key.Ctime
		if cur := m.byKey[mf.key]; cur == nil || cur.id < mf.id {
			m.byKey[mf.key] = mf
		}
		if mf.id != except {
			out = append(out, mf.id)
		}
	}
	return out
}

// Release drops one reference per listed id.
func (m *Table[F]) Release(ids []uint64) {
	for _, f := range m.Drop(ids) {
		f.DecRef()
	}
}

// Drop drops one reference per listed id and returns the descriptions
// of the ids it released, whose references the caller drops once it
// holds no lock (DecRef may reach the gofer): it may call Drop under a
// lock of its own, so that its reply and the ids' records go out
// together (FileRelease).
func (m *Table[F]) Drop(ids []uint64) []F {
	var drop []F
	m.mu.Lock()
	for _, id := range ids {
		mf := m.byID[id]
		if mf == nil {
			continue
		}
		mf.refs--
		m.changed(id)
		if mf.refs <= 0 {
			delete(m.byID, id)
			if m.byKey[mf.key] == mf {
				delete(m.byKey, mf.key)
			}
			m.rememberLocked(mf.key, releasedFile{id: id, gen: mf.gen})
			drop = append(drop, mf.f)
			if mf.hasWF {
				drop = append(drop, mf.wf)
			}
		}
	}
	m.mu.Unlock()
	return drop
}

// rememberLocked records that rf, of the file version key, was released.
// Precondition: m.mu is held.
func (m *Table[F]) rememberLocked(key Key, rf releasedFile) {
	if _, ok := m.released[key]; !ok {
		m.releasedOrder = append(m.releasedOrder, key)
	}
	m.released[key] = rf
	for len(m.releasedOrder) > maxReleased {
		delete(m.released, m.releasedOrder[0])
		m.releasedOrder = m.releasedOrder[1:]
	}
}

// ReleaseAll drops every mapped file (the client's teardown).
func (m *Table[F]) ReleaseAll() {
	m.mu.Lock()
	all := m.byID
	m.byID = map[uint64]*mappedFile[F]{}
	m.byKey = map[Key]*mappedFile[F]{}
	m.mu.Unlock()
	for _, mf := range all {
		mf.f.DecRef()
		if mf.hasWF {
			mf.wf.DecRef()
		}
	}
}
