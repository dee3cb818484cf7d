package goferclient

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
)

// AttrTTL is how long attributes read from the gofer answer a Stat
// without asking it again. It bounds how stale a stat may be after a
// change made by someone else than this server (another server sharing
// the gofer, or the host), as NFS's attribute cache timeout does; changes
// made through this server update or drop the cached attributes at once.
const AttrTTL = time.Second

// attrKey names an inode: handles of one file (hard links, several opens)
// share its attributes.
type attrKey struct{ dev, ino uint64 }

// attrEntry is the cached attributes of one inode.
type attrEntry struct {
	// refs counts the handles (in AttrCache.handles) naming the inode;
	// the entry goes with the last of them.
	refs int
	// st is nil when nothing is cached (dropped by a change).
	st      *goferpb.Stat
	fetched time.Time
	// atimeStale says a Read moved the atime since st was fetched: st
	// no longer answers a Stat, but still tells the version of the
	// content (a read changes only the atime).
	atimeStale bool
	// dropped is the AttrCache.seq of the last change dropping st: a
	// fill begun before it is stale.
	dropped uint64
	// changed is the AttrCache.seq of the last change of the inode
	// through the cache other than a Read's atime (ChangedSince).
	changed uint64
	// data is the whole content of a small file (at most maxCachedFile
	// bytes), read when its attributes were version; nil if none. It
	// answers reads while the cached attributes are fresh and still say
	// version (the data cache; see AttrCache).
	data    []byte
	version fileVersion
	// unread says nothing read the attributes (Stat, Recent) since a
	// creation in the directory dropped them: the next creation there
	// does not ask the gofer for them (CreateRequest.no_dir_stat).
	unread bool
}

// fileVersion is what a change of a file's content changes.
type fileVersion struct {
	size, blocks     uint64
	mtimeNs, ctimeNs int64
}

func versionOf(st *goferpb.Stat) fileVersion {
	return fileVersion{st.Size, st.Blocks, st.MtimeNs, st.CtimeNs}
}

// maxCachedFile bounds the size of a file whose data is cached, and
// maxCachedData the data cached in all; maxGone bounds AttrCache.gone.
const (
	maxGone       = 4096
	maxCachedFile = 64 << 10
	maxCachedData = 8 << 20
)

// AttrCache is the server's attribute cache over the gofer, shared by its
// clients: a goferpb.GoferClient that answers Stat from attributes the
// gofer returned (in any reply carrying a Stat) less than AttrTTL ago. It
// learns which inode each handle names from the replies that return
// handles, and keeps what it caches true for the changes this server
// makes:
//
//   - Write, SetStat, Fallocate, SetXattr, RemoveXattr and Link drop the
//     file's attributes when they begin
//     and, when they end, replace them with the ones their reply carries
//     (complete);
//   - the creations (Create, Mkdir, Symlink, Mknod) drop their
//     directory's attributes when they begin (its mtime and link count
//     change) and replace them with the directory's attributes their
//     reply carries (dir_stat) when they end, as a Write does the file's;
//     a Create asks for them only if something read them since the last
//     creation there (dirStatUnwanted), else they stay dropped;
//   - Getdents at offset 0 (atime) and an Open or walk-open with O_TRUNC
//     drop the attributes of the file or directory they touch, and a
//     Read (atime) keeps them from answering a Stat;
//   - a successful Unlink or Rename drops everything (the link count and
//     ctime of a file known only by name change), and counts as a
//     removal in its directories for every client but the caller
//     (RemovedSince: their cached names there may be gone).
//
// Each drop records the change's seq on the inode (kept for maxGone
// inodes after their last handle went), so that attributes learnt
// without a handle (a listing's, vfs.listedStat) can be checked against
// it (ValidSince).
//
// The whole content of small files read from offset 0 to their end is
// kept too, with the version (size, blocks, mtime, ctime) their
// attributes had:
// a Read through a handle opened for reading is answered from it while
// the cached attributes are fresh and show that version, as an NFS
// client's cache is revalidated by attributes (an open's walk refreshes
// them: close-to-open). Every change that drops a file's attributes
// drops its data; a Read only marks the cached atime stale.
//
// Concurrent calls cannot leave stale attributes behind: a fill (a Stat
// or mutation reply) is kept only if no change of that inode, and no drop
// of everything, began since the call did (seq). A Stat whose context
// carries FreshAttrs always asks the gofer (O_APPEND finds the end of the
// file with it). The cache starts empty: a restarted server has nothing
// to invalidate.
type AttrCache struct {
	goferpb.GoferClient

	// mu protects the fields below; it is a leaf lock, never held
	// across an RPC.
	mu sync.Mutex
	// seq counts changes; droppedAll is the seq of the last drop of
	// everything.
	seq, droppedAll uint64
	handles         map[uint64]attrKey
	entries         map[attrKey]*attrEntry
	// gone keeps the dropped seq of entries deleted with their last
	// handle, per inode, for validSince; beyond maxGone it is folded
	// into lostDrop, the highest seq validSince can no longer tell per
	// inode.
	gone     map[attrKey]uint64
	lostDrop uint64
	// readable holds the handles opened for reading (a Read through
	// another fails, so the data cache must not answer it).
	readable map[uint64]bool
	// dataBytes is the data cached in all entries.
	dataBytes int
	// now is time.Now (tests move the clock).
	now func() time.Time

	// obs is told of the changes the cache sees (the server's read
	// leases). Set by SetObserver before the cache is used; immutable.
	obs Observer

	// names counts the calls through this cache that may have made a
	// name (Create, Mkdir, Symlink, Mknod, Link, Rename), each counted
	// once its reply is in: a client's negative dentry made from a
	// lookup begun at another count is no longer trusted (package vfs).
	names atomic.Uint64
	// madeIn holds, per directory inode, the names count once the last
	// call that may have made a name in it completed; madeAnywhere, the
	// count once the last such call in a directory the cache could not
	// tell completed (it counts for every directory). Beyond maxMadeIn
	// directories the map is folded into madeAnywhere. Written with
	// names' increment, under mu.
	madeIn       map[attrKey]uint64
	madeAnywhere uint64
	// removals counts the Unlinks and Renames through this cache that
	// may have removed or replaced a name (each name of an UnlinkMany
	// apart), each counted once its reply is in. The count a removal
	// makes is its seq (removalMark), so RemovalSeq is this. Added to
	// under mu, read without it.
	removals atomic.Uint64
	// removedAll is the latest removals of all (lastRemovals), for the
	// lookups that find none by others since they began without taking
	// mu (RemovedSince); replaced, never changed in place, under mu.
	removedAll atomic.Pointer[lastRemovals]
	// removedIn holds, per directory inode, the latest removals of its
	// names; removedAnywhere, those in directories the cache could not
	// tell, and those folded out of removedIn beyond maxRemovedIn (they
	// count for every directory). Written with removals' increment,
	// under mu.
	removedIn       map[attrKey]lastRemovals
	removedAnywhere lastRemovals
}

// removalMark is one removal of a name through the cache: its count
// (AttrCache.removals) and its caller's counter (WithRemovals; nil for
// none).
type removalMark struct {
	seq   uint64
	owner *atomic.Uint64
}

// lastRemovals sums up a set of removals (a directory's) for
// byOthers: the latest of them, and the latest whose owner is not the
// latest's. The latest by anyone but a given owner is one of the two.
// The zero value is the empty set.
type lastRemovals [2]removalMark

// add puts m, of any age, in the set.
func (l *lastRemovals) add(m removalMark) {
	switch {
	case m.seq > l[0].seq:
		if m.owner != l[0].owner {
			l[1] = l[0]
		}
		l[0] = m
	case m.owner != l[0].owner && m.seq > l[1].seq:
		l[1] = m
	}
}

// merge puts o's removals in the set: for every owner, the latest of
// o's by others is one of o's two, so adding them is enough.
func (l *lastRemovals) merge(o lastRemovals) {
	l.add(o[0])
	l.add(o[1])
}

// byOthers is the seq of the latest removal of the set not made by
// own (nil: the latest of all), 0 for none.
func (l *lastRemovals) byOthers(own *atomic.Uint64) uint64 {
	if own != nil && l[0].owner == own {
		return l[1].seq
	}
	return l[0].seq
}

// Observer is told of the changes of files that go through the cache,
// and of the attributes it learns from the gofer (the server's read
// leases, package readlease, which revoke a client's cached copy). Its
// methods are called with no lock of the cache held, after the change's
// gofer call returned and before the cache returns its reply, so a change
// is not acknowledged to its caller before the observer let it go.
type Observer interface {
	// Changed: inode dev/ino's data or attributes changed (or may
	// have).
	Changed(ctx context.Context, dev, ino uint64)
	// ChangedMany: Changed of each of inodes (more than one: a Rename's,
	// an UnlinkMany's), told as one.
	ChangedMany(ctx context.Context, inodes []*goferpb.InodeID)
	// ChangedAll: some inode's attributes changed, which one is not
	// known (an unlink or rename whose reply names no inode: an older
	// gofer's).
	ChangedAll(ctx context.Context)
	// Observed: the gofer says inode st.Dev/st.Ino has attributes st.
	Observed(ctx context.Context, st *goferpb.Stat)
	// NamesChanged: a name was made in or removed from directory
	// dev/ino (Create, Mkdir, Symlink, Mknod, Link, Unlink, Rename; known
	// false: some directory, which one is not known). The inodes whose
	// own attributes changed are told by Changed.
	NamesChanged(ctx context.Context, dev, ino uint64, known bool)
	// Changing: a change that may make an open of inodes fail, or open
	// another file (the removal of a name of theirs, a rename of them
	// or over them, a change of their mode or owner), is about to be
	// made; it is made once Changing returns, and end is called after
	// it (and after Changed), whatever its outcome.
	Changing(ctx context.Context, inodes []*goferpb.InodeID) (end func())
	// NamesChanging: a name is about to be made in directory dev/ino
	// (Create, Mkdir, Symlink, Mknod, Link, Rename into it), which may
	// make a creation of the name fail; it is made once NamesChanging
	// returns, and end is called after it (and after NamesChanged).
	NamesChanging(ctx context.Context, dev, ino uint64) (end func())
}

// changingKey marks a context with the inodes its Unlink or Rename will
// change (WithChanging).
type changingKey struct{}

// WithChanging returns ctx saying that the Unlink or Rename it carries
// removes or replaces the names of inodes inos, files of the call's
// (old) directory's file system, as the caller's lookup found them: the
// Observer is told before the call is made (Changing).
func WithChanging(ctx context.Context, inos ...uint64) context.Context {
	return context.WithValue(ctx, changingKey{}, inos)
}

// changing tells the observer of the change about to be made of the
// inodes of handle h (h != 0) and of the inode numbers ctx names
// (WithChanging) on the file system of directory handle dir; it returns
// the function that ends it.
func (a *AttrCache) changing(ctx context.Context, h, dir uint64) func() {
	inos, _ := ctx.Value(changingKey{}).([]uint64)
	if a.obs == nil || (h == 0 && len(inos) == 0) {
		return func() {}
	}
	var ids []*goferpb.InodeID
	a.mu.Lock()
	if k, ok := a.handles[h]; ok && h != 0 {
		ids = append(ids, &goferpb.InodeID{Dev: k.dev, Ino: k.ino})
	}
	if k, ok := a.handles[dir]; ok {
		for _, ino := range inos {
			ids = append(ids, &goferpb.InodeID{Dev: k.dev, Ino: ino})
		}
	}
	a.mu.Unlock()
	if len(ids) == 0 {
		return func() {}
	}
	return a.obs.Changing(ctx, ids)
}

// changingMany is changing for the unlinks of an UnlinkMany, whose
// directory handles are dirs and whose inode numbers ctx names in the
// same order (WithChanging; 0 for one the caller's lookup did not find):
// one change of all their inodes, as the observer begins a change of
// several, instead of one each (rm -r's runs of up to 256 removals).
func (a *AttrCache) changingMany(ctx context.Context, dirs []uint64) func() {
	inos, _ := ctx.Value(changingKey{}).([]uint64)
	if a.obs == nil || len(inos) == 0 {
		return func() {}
	}
	// The ids and their array made once a run, not an InodeID an
	// unlink.
	ids := make([]*goferpb.InodeID, 0, len(dirs))
	arr := make([]goferpb.InodeID, len(dirs))
	a.mu.Lock()
	for i, dir := range dirs {
		if i >= len(inos) || inos[i] == 0 {
			continue
		}
		if k, ok := a.handles[dir]; ok {
			arr[i].Dev, arr[i].Ino = k.dev, inos[i]
			ids = append(ids, &arr[i])
		}
	}
	a.mu.Unlock()
	if len(ids) == 0 {
		return func() {}
	}
	return a.obs.Changing(ctx, ids)
}

// namesChanging tells the observer that a name is about to be made in
// the directory of handle dir, if the cache knows its inode; it returns
// the function that ends the change.
func (a *AttrCache) namesChanging(ctx context.Context, dir uint64) func() {
	if a.obs == nil {
		return func() {}
	}
	a.mu.Lock()
	k, ok := a.handles[dir]
	a.mu.Unlock()
	if !ok {
		return func() {}
	}
	return a.obs.NamesChanging(ctx, k.dev, k.ino)
}

// openRights are the SetStat fields that decide who may open a file.
const openRights = unix.STATX_MODE | unix.STATX_UID | unix.STATX_GID

// SetObserver makes o the cache's observer. Call it before the cache is
// used.
func (a *AttrCache) SetObserver(o Observer) { a.obs = o }

// changed tells the observer that handle h's inode (or, when the cache
// does not know it, the inode of st, or else any inode) changed.
func (a *AttrCache) changed(ctx context.Context, h uint64, st *goferpb.Stat) {
	if a.obs == nil {
		return
	}
	a.mu.Lock()
	k, ok := a.handles[h]
	a.mu.Unlock()
	switch {
	case ok:
		a.obs.Changed(ctx, k.dev, k.ino)
	case st != nil:
		a.obs.Changed(ctx, st.Dev, st.Ino)
	default:
		a.obs.ChangedAll(ctx)
	}
}

// InodeOf returns the inode handle h names, if the cache learnt it.
func (a *AttrCache) InodeOf(h uint64) (dev, ino uint64, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.handles[h]
	return k.dev, k.ino, ok
}

// Recent returns the attributes of handle h's file if they were learnt
// less than AttrTTL ago, even if a Read moved the atime since (a copy).
func (a *AttrCache) Recent(h uint64) *goferpb.Stat {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.readLocked(h)
	e := a.freshLocked(h)
	if e == nil {
		return nil
	}
	return proto.Clone(e.st).(*goferpb.Stat)
}

// readLocked notes that the attributes of handle h's inode are read
// (attrEntry.unread). Precondition: a.mu.
func (a *AttrCache) readLocked(h uint64) {
	if k, ok := a.handles[h]; ok {
		if e := a.entries[k]; e != nil {
			e.unread = false
		}
	}
}

// dirStatUnwanted says whether a creation in directory h need not bring
// the directory's attributes: nothing read them since the last creation
// there (a tar's stat of the directory it extracts into reads them at
// each file; a shell's loop of echo > f$i never), and it marks them
// unread for the next. A read then asks the gofer once.
func (a *AttrCache) dirStatUnwanted(h uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.handles[h]
	if !ok {
		return false
	}
	e := a.entries[k]
	if e == nil {
		return false
	}
	unwanted := e.unread
	e.unread = true
	return unwanted
}

// SizeOf returns the size of handle h's file as last learnt, however
// old, if the cache holds its attributes.
func (a *AttrCache) SizeOf(h uint64) (uint64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.handles[h]
	if !ok {
		return 0, false
	}
	e := a.entries[k]
	if e == nil || e.st == nil {
		return 0, false
	}
	return e.st.Size, true
}

// changedInodes tells the observer of the inodes an unlink or rename
// (or a run of unlinks) changed: those its reply names, several as one
// (rm -r's runs of up to 256 unlinks took the registry's lock and waited
// once an inode), or, when it failed to arrive or names none (an older
// gofer), any inode.
func (a *AttrCache) changedInodes(ctx context.Context, err error, inodes []*goferpb.InodeID) {
	switch {
	case a.obs == nil:
	case err != nil || len(inodes) == 0:
		a.obs.ChangedAll(ctx)
	case len(inodes) == 1:
		a.obs.Changed(ctx, inodes[0].GetDev(), inodes[0].GetIno())
	default:
		a.obs.ChangedMany(ctx, inodes)
	}
}

// observed tells the observer of attributes learnt from the gofer.
func (a *AttrCache) observed(ctx context.Context, st *goferpb.Stat) {
	if a.obs != nil && st != nil {
		a.obs.Observed(ctx, st)
	}
}

// SetClock replaces the cache's clock (tests step time past AttrTTL).
func (a *AttrCache) SetClock(now func() time.Time) {
	a.mu.Lock()
	a.now = now
	a.mu.Unlock()
}

// NamesMade is the count of calls through the cache that may have made a
// name (see names).
func (a *AttrCache) NamesMade() uint64 { return a.names.Load() }

// maxMadeIn bounds AttrCache.madeIn.
const maxMadeIn = 4096

// NamesMadeIn is the NamesMade count once the last call that may have made
// a name in the directory of handle dir completed (0 for none since the
// cache began): a negative dentry of that directory from a lookup begun at
// count n is trusted while NamesMadeIn is at most n, so that gcc's failed
// searches stay answered while it creates files elsewhere. A handle the
// cache does not know gives NamesMade.
func (a *AttrCache) NamesMadeIn(dir uint64) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.handles[dir]
	if !ok {
		return a.names.Load()
	}
	return max(a.madeIn[k], a.madeAnywhere)
}

// nameMade counts a call that may have made a name in the directories of
// handles dirs, once its reply is in (see names, madeIn), and before the
// observer is told (namesChanged): a path lease granted after the
// observer moved its count must come from a walk that no longer trusts
// a negative dentry the name's creation made stale.
func (a *AttrCache) nameMade(dirs ...uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.names.Add(1)
	for _, d := range dirs {
		k, ok := a.handles[d]
		if !ok || len(a.madeIn) >= maxMadeIn {
			a.madeAnywhere = n
			if ok {
				clear(a.madeIn)
			}
			continue
		}
		if a.madeIn == nil {
			a.madeIn = make(map[attrKey]uint64)
		}
		a.madeIn[k] = n
	}
}

// removalsKey marks a context with its caller's identity for removals.
type removalsKey struct{}

// WithRemovals returns ctx naming own as its caller's identity for the
// removals (Unlink, Rename) its calls make: RemovedSince leaves them out.
func WithRemovals(ctx context.Context, own *atomic.Uint64) context.Context {
	return context.WithValue(ctx, removalsKey{}, own)
}

// RemovalSeq is the count of removals through the cache so far (see
// removals): a caller that caches names a gofer call found or made
// reads it before the call, and asks RemovedSince with it later.
func (a *AttrCache) RemovalSeq() uint64 { return a.removals.Load() }

// RemovedSince says whether a name of directory dev/ino that a call
// begun at seq (RemovalSeq) found or made may have been removed since by
// another caller than ctx's (WithRemovals; none: any caller): one
// removed a name of that directory after seq, or a name of a directory
// the cache could not tell. So a client's cached names stay trusted
// while other clients remove files elsewhere (an rm -r, a build's
// temporary files).
func (a *AttrCache) RemovedSince(ctx context.Context, dev, ino, seq uint64) bool {
	own, _ := ctx.Value(removalsKey{}).(*atomic.Uint64)
	if all := a.removedAll.Load(); all == nil || all.byOthers(own) <= seq {
		return false // none by others since, anywhere: no lock
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	in := a.removedIn[attrKey{dev, ino}]
	return max(in.byOthers(own), a.removedAnywhere.byOthers(own)) > seq
}

// maxRemovedIn bounds AttrCache.removedIn.
const maxRemovedIn = 4096

// removed counts a removal made by ctx's caller of names of the
// directories of handles dirs (see removals, removedIn).
func (a *AttrCache) removed(ctx context.Context, dirs ...uint64) {
	own, _ := ctx.Value(removalsKey{}).(*atomic.Uint64)
	a.mu.Lock()
	defer a.mu.Unlock()
	m := removalMark{seq: a.removals.Add(1), owner: own}
	var all lastRemovals
	if p := a.removedAll.Load(); p != nil {
		all = *p
	}
	all.add(m)
	a.removedAll.Store(&all)
	if len(dirs) == 0 {
		a.removedAnywhere.add(m)
	}
	for _, d := range dirs {
		k, ok := a.handles[d]
		if !ok {
			a.removedAnywhere.add(m)
			continue
		}
		if a.removedIn == nil {
			a.removedIn = make(map[attrKey]lastRemovals)
		}
		if _, ok := a.removedIn[k]; !ok && len(a.removedIn) >= maxRemovedIn {
			a.foldRemovedInLocked()
		}
		l := a.removedIn[k]
		l.add(m)
		a.removedIn[k] = l
	}
}

// foldRemovedInLocked moves the older half of removedIn (by latest
// removal) into removedAnywhere, which keeps the memory bounded at the
// cost of a walk to each other client's cached name found before them
// (once: the walk makes it found later). Half, so that a run of
// removals in new directories (an rm -r of a large tree) sorts once per
// maxRemovedIn/2 of them. Precondition: a.mu.
func (a *AttrCache) foldRemovedInLocked() {
	seqs := make([]uint64, 0, len(a.removedIn))
	for _, l := range a.removedIn {
		seqs = append(seqs, l[0].seq)
	}
	slices.Sort(seqs)
	cut := seqs[len(seqs)/2]
	for k, l := range a.removedIn {
		if l[0].seq <= cut {
			a.removedAnywhere.merge(l)
			delete(a.removedIn, k)
		}
	}
}

// namesRemoved records a removal of names from directories dirs (an
// Unlink's, a Rename's, or one of an UnlinkMany) that changed inodes
// (err: the call failed on the way, its effect unknown): it counts
// (removed), drops what it made stale (dropRemoved) and tells the
// observer (changedInodes, namesChanged).
func (a *AttrCache) namesRemoved(ctx context.Context, err error, changed []*goferpb.InodeID, dirs ...uint64) {
	a.removed(ctx, dirs...)
	a.dropRemoved(err, changed, dirs...)
	a.changedInodes(ctx, err, changed)
	a.namesChanged(ctx, dirs...)
}

// namesChanged tells the observer that a name was made in or removed
// from the directories the handles dirs name.
func (a *AttrCache) namesChanged(ctx context.Context, dirs ...uint64) {
	if a.obs == nil {
		return
	}
	for _, h := range dirs {
		a.mu.Lock()
		k, ok := a.handles[h]
		a.mu.Unlock()
		a.obs.NamesChanged(ctx, k.dev, k.ino, ok)
	}
}

// NewAttrCache returns an attribute cache in front of g.
func NewAttrCache(g goferpb.GoferClient) *AttrCache {
	return &AttrCache{GoferClient: g, handles: make(map[uint64]attrKey), entries: make(map[attrKey]*attrEntry),
		readable: make(map[uint64]bool), gone: make(map[attrKey]uint64), now: time.Now}
}

// freshAttrsKey marks a context whose Stat must reach the gofer.
type freshAttrsKey struct{}

// FreshAttrs returns ctx asking Stat for the gofer's current attributes.
func FreshAttrs(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshAttrsKey{}, true)
}

func keyOf(st *goferpb.Stat) attrKey { return attrKey{st.Dev, st.Ino} }

// learn records that handle h names the inode of st and caches st, if
// no change began since seq (start).
func (a *AttrCache) learn(h uint64, st *goferpb.Stat, start uint64) {
	if h == 0 || st == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := keyOf(st)
	if old, ok := a.handles[h]; ok && old != k {
		a.unrefLocked(h)
	}
	e := a.entries[k]
	if e == nil {
		// A change recorded before the inode's last handle went still
		// counts (ValidSince).
		e = &attrEntry{dropped: a.gone[k], changed: max(a.gone[k], a.lostDrop)}
		delete(a.gone, k)
		a.entries[k] = e
	}
	if _, ok := a.handles[h]; !ok {
		a.handles[h] = k
		e.refs++
	}
	a.fillLocked(e, st, start)
}

// fillLocked caches st in e unless a change began after start.
// Precondition: a.mu.
func (a *AttrCache) fillLocked(e *attrEntry, st *goferpb.Stat, start uint64) {
	if e.dropped > start || a.droppedAll > start {
		return
	}
	e.st, e.fetched, e.atimeStale = proto.Clone(st).(*goferpb.Stat), a.now(), false
}

func (a *AttrCache) unrefLocked(h uint64) {
	k, ok := a.handles[h]
	if !ok {
		return
	}
	delete(a.handles, h)
	delete(a.readable, h)
	if e := a.entries[k]; e != nil {
		if e.refs--; e.refs <= 0 {
			a.dropDataLocked(e)
			if e.dropped != 0 {
				a.markGoneLocked(k, e.dropped)
			}
			delete(a.entries, k)
		}
	}
}

// dropDataLocked drops e's cached data. Precondition: a.mu.
func (a *AttrCache) dropDataLocked(e *attrEntry) {
	a.dataBytes -= len(e.data)
	e.data = nil
}

// clock returns the cache's time (time.Now but in tests).
func (a *AttrCache) Clock() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now()
}

// begin returns the seq a call's fill is checked against.
func (a *AttrCache) begin() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq
}

// drop drops the attributes of the inode handle h names and returns the
// seq its change's own fill is checked against.
func (a *AttrCache) drop(h uint64) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	if k, ok := a.handles[h]; ok {
		if e := a.entries[k]; e != nil {
			e.st, e.dropped, e.changed = nil, a.seq, a.seq
			a.dropDataLocked(e)
		}
	}
	return a.seq
}

// markGoneLocked records that inode k, which has no entry, changed at
// seq (ValidSince, and the entry made if a handle of it comes).
// Precondition: a.mu.
func (a *AttrCache) markGoneLocked(k attrKey, seq uint64) {
	if len(a.gone) >= maxGone {
		for _, d := range a.gone {
			a.lostDrop = max(a.lostDrop, d)
		}
		clear(a.gone)
	}
	a.gone[k] = max(a.gone[k], seq)
}

// dropRemoved drops what an unlink or a rename changed: the attributes
// of the directories of handles dirs (their times, a link count) and of
// the inodes the gofer's reply names (the file unlinked, moved or
// replaced), each counted as changed now for the attributes kept
// elsewhere (ValidSince: a listing's; ChangedSince: a kept handle's).
// The rest stands: a build's removals of its temporary files no longer
// drop every attribute and kept handle the server holds. Without the
// list (an error, an older gofer) every attribute is dropped.
func (a *AttrCache) dropRemoved(err error, inodes []*goferpb.InodeID, dirs ...uint64) {
	if err != nil || len(inodes) == 0 {
		a.dropAll()
		return
	}
	for _, h := range dirs {
		a.drop(h)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	for _, in := range inodes {
		k := attrKey{in.GetDev(), in.GetIno()}
		e := a.entries[k]
		if e == nil {
			a.markGoneLocked(k, a.seq)
			continue
		}
		e.st, e.dropped, e.changed = nil, a.seq, a.seq
		a.dropDataLocked(e)
	}
}

// dropAll drops every cached attribute.
func (a *AttrCache) dropAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	a.droppedAll = a.seq
	for _, e := range a.entries {
		e.st = nil
		a.dropDataLocked(e)
	}
}

// complete ends a change of handle h's inode begun at start (drop):
// the inode counts as changed again now (a listing or Stat that ran
// while the change did is not trusted), and st, the change's reply, is
// cached if no other change of it began meanwhile.
func (a *AttrCache) complete(h uint64, st *goferpb.Stat, start uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	k, ok := a.handles[h]
	if !ok {
		return
	}
	e := a.entries[k]
	if e == nil {
		return
	}
	alone := e.dropped == start && a.droppedAll < start
	e.st, e.dropped, e.changed = nil, a.seq, a.seq
	a.dropDataLocked(e)
	if alone && st != nil && keyOf(st) == k {
		e.st, e.fetched, e.atimeStale = proto.Clone(st).(*goferpb.Stat), a.now(), false
	}
}

// fill caches st for handle h's inode if no change began after start.
func (a *AttrCache) fill(h uint64, st *goferpb.Stat, start uint64) {
	if st == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if k, ok := a.handles[h]; ok && k == keyOf(st) {
		if e := a.entries[k]; e != nil {
			a.fillLocked(e, st, start)
		}
	}
}

// cached returns the attributes cached for handle h, if fresh.
func (a *AttrCache) cached(h uint64) *goferpb.Stat {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.freshLocked(h)
	if e == nil || e.atimeStale {
		return nil
	}
	return proto.Clone(e.st).(*goferpb.Stat)
}

// Stat implements goferpb.GoferClient, from the cache when it can.
func (a *AttrCache) Stat(ctx context.Context, req *goferpb.StatRequest, opts ...grpc.CallOption) (*goferpb.StatReply, error) {
	if donated.Has[donated.SizeOnly](opts) {
		// Its size only, now (vfs.VFS.GoferSizeNow): not kept.
		return a.GoferClient.Stat(ctx, req, opts...)
	}
	a.mu.Lock()
	a.readLocked(req.GetHandle())
	a.mu.Unlock()
	if ctx.Value(freshAttrsKey{}) == nil {
		if st := a.cached(req.GetHandle()); st != nil {
			return &goferpb.StatReply{Stat: st}, nil
		}
	}
	start := a.begin()
	r, err := a.GoferClient.Stat(ctx, req, opts...)
	if err == nil && r.GetErrno() == 0 {
		a.fill(req.GetHandle(), r.GetStat(), start)
		a.observed(ctx, r.GetStat())
	}
	return r, err
}

func (a *AttrCache) Attach(ctx context.Context, req *goferpb.AttachRequest, opts ...grpc.CallOption) (*goferpb.AttachReply, error) {
	start := a.begin()
	r, err := a.GoferClient.Attach(ctx, req, opts...)
	if err == nil && r.GetErrno() == 0 {
		a.learn(r.GetRoot().GetId(), r.GetStat(), start)
		a.observed(ctx, r.GetStat())
	}
	return r, err
}

func (a *AttrCache) Walk(ctx context.Context, req *goferpb.WalkRequest, opts ...grpc.CallOption) (*goferpb.WalkReply, error) {
	if req.GetOpen() && req.GetOpenFlags()&(unix.O_ACCMODE|unix.O_TRUNC) == unix.O_RDONLY && a.holdsData(req.GetDir(), req.GetExpectIno()) {
		opts = append(opts[:len(opts):len(opts)], donated.NotNeeded{})
	}
	// truncated is the seq of the drop of a truncating walk-open's file.
	var truncated uint64
	if req.GetOpen() && req.GetOpenFlags()&unix.O_TRUNC != 0 {
		if st := a.freshChild(req.GetDir(), req.GetExpectIno()); st != nil && !req.GetCheckVersion() {
			req = withVersion(req, st).(*goferpb.WalkRequest)
		}
		truncated = a.dropChild(req.GetDir(), req.GetExpectIno())
	}
	start := a.begin()
	r, err := a.GoferClient.Walk(ctx, req, opts...)
	if err != nil {
		return r, err
	}
	for i, f := range r.GetFiles() {
		st := f.GetStat()
		a.learn(f.GetHandle().GetId(), st, start)
		a.observed(ctx, st)
		if !req.GetOpen() || i != len(r.GetFiles())-1 || r.GetErrno() != 0 || r.GetOpenErrno() != 0 {
			continue
		}
		if req.GetOpenFlags()&unix.O_TRUNC != 0 {
			// Truncated after its stat was taken: the attributes after,
			// if the reply has them and no other change began since.
			a.complete(f.GetHandle().GetId(), r.GetOpenStat(), truncated)
			a.changed(ctx, f.GetHandle().GetId(), st)
		}
		a.openedForRead(f.GetHandle().GetId(), req.GetOpenFlags())
		if p := r.GetPath(); p != nil {
			a.learn(p.GetId(), st, start)
		}
	}
	return r, err
}

func (a *AttrCache) Reopen(ctx context.Context, req *goferpb.ReopenRequest, opts ...grpc.CallOption) (*goferpb.ReopenReply, error) {
	start := a.begin()
	r, err := a.GoferClient.Reopen(ctx, req, opts...)
	if err == nil && r.GetErrno() == 0 {
		a.learn(r.GetHandle().GetId(), r.GetStat(), start)
		a.observed(ctx, r.GetStat())
	}
	return r, err
}

func (a *AttrCache) Open(ctx context.Context, req *goferpb.OpenRequest, opts ...grpc.CallOption) (*goferpb.OpenReply, error) {
	if req.GetFlags()&unix.O_TRUNC == 0 {
		r, err := a.GoferClient.Open(ctx, req, opts...)
		if err == nil && r.GetErrno() == 0 {
			a.openedForRead(req.GetHandle(), req.GetFlags())
		}
		return r, err
	}
	req = a.withCachedVersion(req).(*goferpb.OpenRequest)
	start := a.drop(req.GetHandle())
	r, err := a.GoferClient.Open(ctx, req, opts...)
	var st *goferpb.Stat // the attributes after the truncation, if known
	if err == nil && r.GetErrno() == 0 {
		a.openedForRead(req.GetHandle(), req.GetFlags())
		st = r.GetStat()
	}
	a.complete(req.GetHandle(), st, start)
	a.changed(ctx, req.GetHandle(), nil)
	return r, err
}

// openedForRead records that handle h was opened with flags, if for
// reading.
func (a *AttrCache) openedForRead(h uint64, flags uint32) {
	if flags&unix.O_ACCMODE == unix.O_WRONLY || h == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.handles[h]; ok {
		a.readable[h] = true
	}
}

func (a *AttrCache) Read(ctx context.Context, req *goferpb.ReadRequest, opts ...grpc.CallOption) (*goferpb.ReadReply, error) {
	h := req.GetHandle()
	a.mu.Lock()
	var ver *fileVersion
	var start uint64
	if e := a.freshLocked(h); e != nil {
		if e.data != nil && a.readable[h] && versionOf(e.st) == e.version {
			r := &goferpb.ReadReply{Data: sliceAt(e.data, req.GetOffset(), req.GetLength())}
			a.mu.Unlock()
			return r, nil
		}
		v := versionOf(e.st)
		ver, start = &v, a.seq
	}
	a.mu.Unlock()
	r, err := a.GoferClient.Read(ctx, req, opts...)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || r.GetErrno() != 0 {
		return r, err
	}
	a.readable[h] = true
	k, ok := a.handles[h]
	e := a.entries[k]
	if !ok || e == nil {
		return r, err
	}
	// The whole file, read while its attributes said ver and unchanged
	// since: keep it.
	// Files of pseudo filesystems (sysfs, cgroupfs under the gofer's
	// root) change content without a new mtime: they occupy no blocks,
	// or their size is not their content's (0, 4096).
	if ver != nil && req.GetOffset() == 0 && uint64(len(r.Data)) == ver.size && ver.size <= maxCachedFile &&
		ver.size > 0 && ver.blocks > 0 &&
		uint64(len(r.Data)) < uint64(req.GetLength()) && e.dropped <= start && a.droppedAll <= start &&
		a.dataBytes+len(r.Data) <= maxCachedData {
		a.dropDataLocked(e)
		e.data, e.version = keptData(r.Data, donated.ReadIntoOf(opts) != nil), *ver
		a.dataBytes += len(e.data)
	}
	// The read moved the file's atime: its data and version stand.
	a.atimeMovedLocked(e)
	return r, err
}

// keptData returns what the data cache keeps of data, a whole file a
// Read returned: the reply's own buffer as it is, since everything the
// cache holds is handed out to be read only (sliceAt, which GoferRead
// returns, and leases send), and copying it was an eighth of the bytes
// the server allocated in a cp -r (each file read once for its lease);
// but a copy of data read into the caller's buffer (into:
// donated.ReadInto), which the caller may reuse, or of a buffer much
// larger than data (a read of a file whose size was not known asks for
// a lease's whole window), which the cache must not keep alive.
func keptData(data []byte, into bool) []byte {
	if into || cap(data) > len(data)+len(data)/8+64 {
		return append([]byte(nil), data...)
	}
	return data[:len(data):len(data)]
}

// atimeMovedLocked records that a read of e's inode (a Read of a file,
// a listing of a directory) moved its atime: its attributes no longer
// answer a Stat (nor may a Stat begun before fill them), but the inode
// did not change otherwise (ChangedSince: a kept handle of it stands).
// Precondition: a.mu.
func (a *AttrCache) atimeMovedLocked(e *attrEntry) {
	a.seq++
	e.dropped, e.atimeStale = a.seq, true
}

// atimeMoved is atimeMovedLocked of the inode handle h names, if the
// cache knows it.
func (a *AttrCache) atimeMoved(h uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if k, ok := a.handles[h]; ok {
		if e := a.entries[k]; e != nil {
			a.atimeMovedLocked(e)
		}
	}
}

// holdsData says whether the whole content of inode ino, on the file
// system of directory handle dir, is cached and answers reads now (fresh
// attributes that show the cached version). A file on another file
// system than its directory (a mount point) may be mistaken for another
// file: that costs only an fd not donated.
func (a *AttrCache) holdsData(dir, ino uint64) bool {
	if ino == 0 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	dk, ok := a.handles[dir]
	if !ok {
		return false
	}
	e := a.entries[attrKey{dk.dev, ino}]
	return e != nil && e.data != nil && e.st != nil && a.now().Sub(e.fetched) < AttrTTL && versionOf(e.st) == e.version
}

// freshChild returns the fresh cached attributes of inode ino of the
// file system of directory handle dir, or nil.
func (a *AttrCache) freshChild(dir, ino uint64) *goferpb.Stat {
	if ino == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	dk, ok := a.handles[dir]
	if !ok {
		return nil
	}
	e := a.entries[attrKey{dk.dev, ino}]
	if e == nil || e.st == nil || a.now().Sub(e.fetched) >= AttrTTL {
		return nil
	}
	return e.st
}

// dropChild drops the attributes of inode ino of the file system of
// directory handle dir, as drop does a handle's, and returns the seq its
// change's own fill is checked against.
func (a *AttrCache) dropChild(dir, ino uint64) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	if dk, ok := a.handles[dir]; ok && ino != 0 {
		if e := a.entries[attrKey{dk.dev, ino}]; e != nil {
			e.st, e.dropped, e.changed = nil, a.seq, a.seq
			a.dropDataLocked(e)
		}
	}
	return a.seq
}

// HoldsWhole says whether a Read through handle h would be answered now
// from the whole content of its file cached here (no gofer call).
func (a *AttrCache) HoldsWhole(h uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.freshLocked(h)
	return e != nil && e.data != nil && a.readable[h] && versionOf(e.st) == e.version
}

// freshLocked returns the entry of handle h's inode if its attributes are
// cached and fresh. Precondition: a.mu.
func (a *AttrCache) freshLocked(h uint64) *attrEntry {
	k, ok := a.handles[h]
	if !ok {
		return nil
	}
	e := a.entries[k]
	if e == nil || e.st == nil || a.now().Sub(e.fetched) >= AttrTTL {
		return nil
	}
	return e
}

// withCachedVersion returns req, a truncation (GoferConn's conditional
// calls, conditional.go) with no condition, conditional on the version
// of the file cached, if fresh: GoferConn then reads it only if the
// file changed since (another party's change), not for every truncation.
func (a *AttrCache) withCachedVersion(req proto.Message) proto.Message {
	a.mu.Lock()
	var st *goferpb.Stat
	if e := a.freshLocked(handleOf(req)); e != nil {
		st = e.st
	}
	a.mu.Unlock()
	if st == nil {
		return req
	}
	switch r := req.(type) {
	case *goferpb.SetStatRequest:
		if r.GetCheckVersion() {
			return req
		}
	case *goferpb.OpenRequest:
		if r.GetCheckVersion() {
			return req
		}
	}
	return withVersion(req, st)
}

// sliceAt returns a copy of up to n bytes of b at off.
func sliceAt(b []byte, off uint64, n uint32) []byte {
	if off >= uint64(len(b)) {
		return nil
	}
	end := min(uint64(len(b)), off+uint64(n))
	return append([]byte(nil), b[off:end]...)
}

func (a *AttrCache) Getdents(ctx context.Context, req *goferpb.GetdentsRequest, opts ...grpc.CallOption) (*goferpb.GetdentsReply, error) {
	r, _, err := a.GetdentsSeq(ctx, req, opts...)
	return r, err
}

// GetdentsSeq is Getdents, also returning the seq its entries' stats
// (GetdentsRequest.plus) are checked against (ValidSince): a change of
// an entry's inode completing after it makes them stale. (A snapshot's
// later chunks are as old as its first; that the stats are taken when
// the reply is made keeps them no older than the call.)
func (a *AttrCache) GetdentsSeq(ctx context.Context, req *goferpb.GetdentsRequest, opts ...grpc.CallOption) (*goferpb.GetdentsReply, uint64, error) {
	start := a.begin()
	if req.GetOffset() != 0 {
		// Served from the gofer's snapshot of the directory, taken at
		// offset 0: no atime change.
		r, err := a.GoferClient.Getdents(ctx, req, opts...)
		return r, start, err
	}
	r, err := a.GoferClient.Getdents(ctx, req, opts...)
	if len(req.GetNames()) != 0 {
		// Listings of subdirectories by name (GetdentsRequest.names):
		// each one's handle as for one.
		for _, sr := range r.GetSubs() {
			if sub := sr.GetSub(); sub != nil {
				a.learn(sub.GetHandle().GetId(), sub.GetStat(), start)
				a.observed(ctx, sub.GetStat())
			}
		}
		return r, start, err
	}
	if len(req.GetName()) == 0 {
		// Its atime (a listing of a subdirectory by name changes the
		// subdirectory's, which has no handle here), and no more: a
		// kept handle of it stands (fts lists a directory, closes it
		// and opens it again).
		a.atimeMoved(req.GetDir())
	} else if sub := r.GetSub(); sub != nil {
		// The subdirectory's handle asked for (want_handle), with its
		// attributes after the listing.
		a.learn(sub.GetHandle().GetId(), sub.GetStat(), start)
		a.observed(ctx, sub.GetStat())
	}
	return r, start, err
}

// Seq is the cache's count of changes now: ChangedSince(h, Seq())
// is false until a change of h's inode goes through the cache.
func (a *AttrCache) Seq() uint64 { return a.begin() }

// ChangedSince says whether the inode of handle h may have changed
// through this cache (a Write, SetStat, Fallocate, Link or truncating
// open of it, an Unlink or Rename of any file) since seq since, or the
// cache does not know h. A Read's or a listing's atime does not count.
func (a *AttrCache) ChangedSince(h, since uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.handles[h]
	if !ok || a.droppedAll > since {
		return true
	}
	e := a.entries[k]
	return e == nil || e.changed > since
}

// ValidSince says whether attributes of the inode of st read at seq
// since are still what this server's changes left them: no change of
// that inode (and no drop of everything) went through the cache since.
func (a *AttrCache) ValidSince(st *goferpb.Stat, since uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.droppedAll > since || a.lostDrop > since {
		return false
	}
	k := keyOf(st)
	if a.gone[k] > since {
		return false
	}
	e := a.entries[k]
	return e == nil || e.dropped <= since
}

// statReply is the reply of a gofer call that changes a file and
// carries its attributes after the change.
type statReply interface {
	GetErrno() int32
	GetStat() *goferpb.Stat
}

// changeStat runs call, which changes file h, around the cache: h's
// cached attributes are dropped before it (a stat racing it cannot keep
// the old ones) and completed from its reply, and observers told.
func changeStat[R statReply](ctx context.Context, a *AttrCache, h uint64, call func() (R, error)) (R, error) {
	start := a.drop(h)
	r, err := call()
	var st *goferpb.Stat
	if err == nil && r.GetErrno() == 0 {
		st = r.GetStat()
	}
	a.complete(h, st, start)
	a.changed(ctx, h, st)
	return r, err
}

func (a *AttrCache) Write(ctx context.Context, req *goferpb.WriteRequest, opts ...grpc.CallOption) (*goferpb.WriteReply, error) {
	return changeStat(ctx, a, req.GetHandle(), func() (*goferpb.WriteReply, error) { return a.GoferClient.Write(ctx, req, opts...) })
}

func (a *AttrCache) SetStat(ctx context.Context, req *goferpb.SetStatRequest, opts ...grpc.CallOption) (*goferpb.SetStatReply, error) {
	if req.GetMask()&openRights != 0 {
		defer a.changing(ctx, req.GetHandle(), 0)()
	}
	if req.GetMask()&unix.STATX_SIZE != 0 {
		req = a.withCachedVersion(req).(*goferpb.SetStatRequest)
	}
	return changeStat(ctx, a, req.GetHandle(), func() (*goferpb.SetStatReply, error) { return a.GoferClient.SetStat(ctx, req, opts...) })
}

func (a *AttrCache) Fallocate(ctx context.Context, req *goferpb.FallocateRequest, opts ...grpc.CallOption) (*goferpb.FallocateReply, error) {
	return changeStat(ctx, a, req.GetHandle(), func() (*goferpb.FallocateReply, error) { return a.GoferClient.Fallocate(ctx, req, opts...) })
}

// SetXattr changes the file's ctime.
func (a *AttrCache) SetXattr(ctx context.Context, req *goferpb.SetXattrRequest, opts ...grpc.CallOption) (*goferpb.SetXattrReply, error) {
	return changeStat(ctx, a, req.GetHandle(), func() (*goferpb.SetXattrReply, error) { return a.GoferClient.SetXattr(ctx, req, opts...) })
}

// RemoveXattr changes the file's ctime.
func (a *AttrCache) RemoveXattr(ctx context.Context, req *goferpb.RemoveXattrRequest, opts ...grpc.CallOption) (*goferpb.RemoveXattrReply, error) {
	return changeStat(ctx, a, req.GetHandle(), func() (*goferpb.RemoveXattrReply, error) { return a.GoferClient.RemoveXattr(ctx, req, opts...) })
}

// created handles the reply of a creation in directory dir begun at
// start (a.drop(dir)): the new file's handle and attributes are learnt,
// and the directory's attributes become those the reply carries
// (dirSt, nil when it has none: they stay dropped), unless another
// change of the directory began meanwhile (complete).
func (a *AttrCache) created(dir uint64, h *goferpb.Handle, st, dirSt *goferpb.Stat, start uint64) {
	a.learn(h.GetId(), st, start)
	a.complete(dir, dirSt, start)
}

func (a *AttrCache) Create(ctx context.Context, req *goferpb.CreateRequest, opts ...grpc.CallOption) (*goferpb.CreateReply, error) {
	defer a.namesChanging(ctx, req.GetDir())()
	if a.dirStatUnwanted(req.GetDir()) {
		req.NoDirStat = true
	}
	start := a.drop(req.GetDir())
	r, err := a.GoferClient.Create(ctx, req, opts...)
	a.nameMade(req.GetDir())
	if err != nil || r.GetErrno() != 0 {
		a.drop(req.GetDir()) // and after: a listing during it is not trusted
	} else {
		a.created(req.GetDir(), r.GetHandle(), r.GetStat(), r.GetDirStat(), start)
		a.openedForRead(r.GetHandle().GetId(), req.GetFlags())
		if r.GetPath() != nil {
			a.learn(r.GetPath().GetId(), r.GetStat(), start)
		}
	}
	if err != nil || r.GetErrno() == 0 {
		a.namesChanged(ctx, req.GetDir())
	}
	return r, err
}

func (a *AttrCache) Mkdir(ctx context.Context, req *goferpb.MkdirRequest, opts ...grpc.CallOption) (*goferpb.MkdirReply, error) {
	return makeName(ctx, a, req.GetDir(), func() (*goferpb.MkdirReply, error) { return a.GoferClient.Mkdir(ctx, req, opts...) })
}

func (a *AttrCache) Symlink(ctx context.Context, req *goferpb.SymlinkRequest, opts ...grpc.CallOption) (*goferpb.SymlinkReply, error) {
	return makeName(ctx, a, req.GetDir(), func() (*goferpb.SymlinkReply, error) { return a.GoferClient.Symlink(ctx, req, opts...) })
}

func (a *AttrCache) Mknod(ctx context.Context, req *goferpb.MknodRequest, opts ...grpc.CallOption) (*goferpb.MknodReply, error) {
	return makeName(ctx, a, req.GetDir(), func() (*goferpb.MknodReply, error) { return a.GoferClient.Mknod(ctx, req, opts...) })
}

// madeName is what the replies of the calls that make a name in a
// directory (mkdir, symlink, mknod) tell the cache.
type madeName interface {
	GetErrno() int32
	GetHandle() *goferpb.Handle
	GetStat() *goferpb.Stat
	GetDirStat() *goferpb.Stat
}

// makeName runs call, which makes a name in directory dir, with the
// directory's cached names and attributes dropped before and, if it
// failed, after (a listing taken during it is not trusted); a made
// name's attributes and the directory's, as the reply has them, are
// cached.
func makeName[R madeName](ctx context.Context, a *AttrCache, dir uint64, call func() (R, error)) (R, error) {
	defer a.namesChanging(ctx, dir)()
	start := a.drop(dir)
	r, err := call()
	a.nameMade(dir)
	if err != nil || r.GetErrno() != 0 {
		a.drop(dir) // and after: a listing during it is not trusted
	} else {
		a.created(dir, r.GetHandle(), r.GetStat(), r.GetDirStat(), start)
	}
	if err != nil || r.GetErrno() == 0 {
		a.namesChanged(ctx, dir)
	}
	return r, err
}

func (a *AttrCache) Link(ctx context.Context, req *goferpb.LinkRequest, opts ...grpc.CallOption) (*goferpb.LinkReply, error) {
	defer a.namesChanging(ctx, req.GetDir())()
	a.drop(req.GetDir())
	start := a.drop(req.GetTarget())
	r, err := a.GoferClient.Link(ctx, req, opts...)
	a.nameMade(req.GetDir())
	var st *goferpb.Stat
	if err == nil && r.GetErrno() == 0 {
		st = r.GetStat()
	}
	a.complete(req.GetTarget(), st, start)
	a.drop(req.GetDir())
	a.changed(ctx, req.GetTarget(), st)
	if err != nil || r.GetErrno() == 0 {
		a.namesChanged(ctx, req.GetDir())
	}
	return r, err
}

func (a *AttrCache) Unlink(ctx context.Context, req *goferpb.UnlinkRequest, opts ...grpc.CallOption) (*goferpb.UnlinkReply, error) {
	defer a.changing(ctx, 0, req.GetDir())()
	r, err := a.GoferClient.Unlink(ctx, req, opts...)
	if err != nil || r.GetErrno() == 0 {
		a.namesRemoved(ctx, err, r.GetChanged(), req.GetDir())
	}
	return r, err
}

// UnlinkMany is Unlink for several names at once (a run of posted
// unlinks): WithChanging's inos are then the unlinks' own, in order (0
// for one whose name the caller's lookup did not find).
func (a *AttrCache) UnlinkMany(ctx context.Context, req *goferpb.UnlinkManyRequest, opts ...grpc.CallOption) (*goferpb.UnlinkManyReply, error) {
	dirs := req.GetDirs()
	defer a.changingMany(ctx, dirs)()
	r, err := a.GoferClient.UnlinkMany(ctx, req, opts...)
	if err != nil {
		a.namesRemoved(ctx, err, nil, dirs...)
		return r, err
	}
	// The run's removals are recorded as one: the inodes the unlinks
	// changed told the observer together (ChangedMany: one registry
	// lock and wait, not one an inode), each directory once (a run is
	// mostly one directory's: rm -r's up to 256 DirChanged of the same
	// one were 16 % of namesRemoved's CPU), with one removal mark. An unlink whose
	// reply names no inode (an older gofer) makes the run's changes
	// unknown, as it alone would.
	// A reply of errnos (UnlinkManyRequest.errnos_wanted) says each
	// success changed its found inode.
	var changed []*goferpb.InodeID
	var removedIn []uint64
	unknown := false
	errnos, found := len(r.GetErrnos()) > 0, req.GetFound()
	for i := range r.Ran() {
		if r.UnlinkErrno(i) != 0 || i >= len(dirs) {
			continue
		}
		switch {
		case !errnos:
			u := r.Unlinks[i]
			if len(u.GetChanged()) == 0 {
				unknown = true
			}
			changed = append(changed, u.GetChanged()...)
		case i < len(found) && found[i].GetIno() != 0:
			changed = append(changed, found[i])
		default:
			unknown = true
		}
		if !slices.Contains(removedIn, dirs[i]) {
			removedIn = append(removedIn, dirs[i])
		}
	}
	if len(removedIn) > 0 {
		if unknown {
			changed = nil
		}
		a.namesRemoved(ctx, nil, changed, removedIn...)
	}
	return r, nil
}

func (a *AttrCache) Rename(ctx context.Context, req *goferpb.RenameRequest, opts ...grpc.CallOption) (*goferpb.RenameReply, error) {
	defer a.changing(ctx, 0, req.GetOldDir())()
	defer a.namesChanging(ctx, req.GetNewDir())()
	r, err := a.GoferClient.Rename(ctx, req, opts...)
	a.nameMade(req.GetOldDir(), req.GetNewDir())
	if err != nil || r.GetErrno() == 0 {
		a.namesRemoved(ctx, err, r.GetChanged(), req.GetOldDir(), req.GetNewDir())
	}
	return r, err
}

func (a *AttrCache) Release(ctx context.Context, req *goferpb.ReleaseRequest, opts ...grpc.CallOption) (*goferpb.ReleaseReply, error) {
	a.mu.Lock()
	for _, h := range req.GetHandles() {
		a.unrefLocked(h)
	}
	a.mu.Unlock()
	return a.GoferClient.Release(ctx, req, opts...)
}

var _ goferpb.GoferClient = (*AttrCache)(nil)

// PostSetStat is SetStat for a change whose caller does not wait for its
// result (a posted call's, package attrrun): it may ride the next gofer
// call (GoferConn, postsetstat.go). done gets the result: on a goroutine
// of its own if the change was queued (PostSetStat reports true), else
// before PostSetStat returns, as SetStat's. The cached attributes are
// dropped at once and replaced by the reply's when it comes. A queued
// change is told to the observer (Changing, then Changed) before
// PostSetStat returns: every later call of this server reaches the gofer
// after it, so a lease granted from then on is from a walk that sees it
// (and a grant made while its result is awaited is not refused for it).
// The caller changes req no more (a queued one is kept as is).
func (a *AttrCache) PostSetStat(ctx context.Context, req *goferpb.SetStatRequest, done func(*goferpb.SetStatReply, error)) bool {
	h := req.GetHandle()
	end := func() {}
	if req.GetMask()&openRights != 0 {
		end = a.changing(ctx, h, 0)
	}
	start := a.drop(h)
	stat := func(r *goferpb.SetStatReply, err error) *goferpb.Stat {
		if err == nil && r.GetErrno() == 0 {
			return r.GetStat()
		}
		return nil
	}
	post := &PostSetStat{Done: func(r *goferpb.SetStatReply, err error) {
		a.complete(h, stat(r, err), start)
		done(r, err)
	}}
	r, err := a.GoferClient.SetStat(ctx, req, post)
	if post.Queued {
		a.changed(ctx, h, nil)
		end()
		return true
	}
	st := stat(r, err)
	a.complete(h, st, start)
	a.changed(ctx, h, st)
	end()
	done(r, err)
	return false
}

// KickPosted has the SetStats queued to ride the next gofer call sent
// now, alone (GoferConn: KickPostedSetStats). It does not wait.
func (a *AttrCache) KickPosted() {
	a.GoferClient.Stat(context.Background(), &goferpb.StatRequest{}, KickPostedSetStats{})
}
