package client

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// The read cache (docs/ARCHITECTURE.md, "The client's read cache").
//
// The server grants a ReadLease (Hello.read_leases) in the reply of an
// open, read or fstat of a regular file opened for reading, made by a
// process that could use it (Syscall.lease_wanted; for a read of a
// writable description, the second read of the file in a row, rwReads):
// the file's struct stat and its data (the whole file when small, else a
// window). While the lease holds, the client answers read, pread64,
// readv, preadv, fstat, newfstatat(fd, "", AT_EMPTY_PATH) and lseek of the
// descriptions the server attached to it (ReadLease.file: the description
// of the call that brought it, and those of later opens of the same file,
// ReadLease.attach) from it, and posts an lseek for a call that moved the
// offset, so the server's offset and the replay log stay exact.
//
// A lease holds until the server revokes it (LeaseRevoke, which the client
// acknowledges once it no longer answers from it: the server does not let
// another client's change's call return before; one its own calls' change
// made comes in a reply, Reply.lease_revoke, or a push marked own, and is
// not acknowledged: onLeaseRevoke) or it expires (ttl_ms after the call
// that brought it was sent, or after the last heartbeat whose arrival
// renewed it, leaserenew.go: the server waits no longer than that for an
// acknowledgment). A recovery drops every lease: nothing cached is trusted
// across servers.
//
// A call is answered here only when the client knows the answer is the
// server's:
//   - the calling process's fd table is its own and no other fd table
//     holds the description (no one else moves the offset; fstat,
//     pread64 and preadv need only the first); in a process with several
//     threads, no call of another thread is in flight that may remove an
//     fd or (but for fstat, pread64 and preadv) move the description's
//     offset (threadorder.go);
//   - no shared mapping has dirty pages (a write-back is a write, whose
//     reply comes after the revocation of the file's leases);
//   - no posted call that may change the file (a write behind to a
//     description of its gofer handle, or of a file not known; for fstat
//     also a chmod, chown or utimensat of any file) is without a reply:
//     the server revokes the leases of what it changes before that reply;
//   - the description's offset is the record's, or the client's own
//     while its posted lseeks are without a reply;
//   - the lease covers the bytes read (a read at or past the size
//     returns 0).

// readCacheLimit bounds the data the cache holds, maxLeasedFiles the
// leases; beyond either, leases are dropped (the oldest grant first; but
// a lease ahead no description used yet after those used, while such
// leases hold at most half the bytes: evictionVictimLocked). The count
// matters where files are small: cp -r of /usr/include holds ~2,000
// leases under the byte bound, more with smaller files.
const (
	readCacheLimit = 32 << 20
	maxLeasedFiles = 8192
)

// readCache is the client's leased copies of files. mu is taken before
// pipelineState.mu (the offset of a description is read under both) and
// is otherwise a leaf: the receiving goroutine takes it to fold
// revocations and posted calls' replies, tasks to take grants and answer
// from it.
type readCache struct {
	mu sync.Mutex
	// files are the live leases by id; descs maps the descriptions
	// (FileState ids) attached to a lease to its id. Protected by mu.
	files map[uint64]*leasedFile
	descs map[uint64]uint64
	// leaseOf is the lease a description of each file (by the token of
	// postedOpens.tokens) was last attached to, for posted opens of the
	// file (attachLeaseOf). Lease ids are a server's: a new server
	// numbers its leases from 1 again, so dropAll forgets them all (a
	// posted open after a recovery was attached to another file's lease
	// that had the same id, and read that file's data). Protected by mu.
	leaseOf map[uint64]uint64
	// bytes is the data held. Protected by mu.
	bytes int
	// grantOrder is the leases in the order they were granted, the
	// oldest from grantHead on, for dropping the oldest first without a
	// scan of files (a scan per grant made cp -r's cost grow with the
	// leases held). An entry whose lease was dropped or granted again
	// since is stale: skipped, and forgotten with the passed ones once
	// the order holds twice the leases (compactGrantOrderLocked).
	// lastSeq is the latest leasedFile.seq given. Protected by mu.
	grantOrder []grantedLease
	grantHead  int
	lastSeq    uint64
	// usedOrder is the leases in the order a description was first
	// attached to them (leasedFile.used; a lease not ahead is used when
	// granted), the oldest from usedHead on, stale entries as in
	// grantOrder; unusedAhead is the data of the leases ahead not used
	// yet (evictionVictimLocked). Protected by mu.
	usedOrder   []grantedLease
	usedHead    int
	unusedAhead int
	// gen counts recoveries: a grant from a call sent before one is
	// dropped. lastEpoch is the latest LeaseRevoke epoch of the current
	// server. Protected by mu.
	gen       uint64
	lastEpoch uint64
	// seekPosted counts each description's posted lseeks without a reply;
	// offsets is its offset as the client moved it meanwhile. Protected
	// by mu.
	seekPosted map[uint64]int
	offsets    map[uint64]int64
	// provisional are the provisional ids of posted opens' descriptions
	// (postopen.go), each with the server's id once the open's reply
	// named it (0 before); moved maps those whose posted lseeks were
	// counted under the provisional id to the server's, while some are
	// without a reply. Protected by mu.
	provisional map[uint64]uint64
	moved       map[uint64]movedDesc
	// dataPosted counts the posted calls that may change a file's data
	// (a write behind) without a reply, by the file's gofer handle
	// (FileState.file_handle; "": a file not known, which may be any):
	// nothing of that file (of any file, for "") is answered meanwhile.
	// dataPostedAll is their sum. attrsPosted counts those that may
	// change only attributes (chmod, chown, utimensat): only reads are
	// answered meanwhile; attrsPostedAny those of them whose file may
	// be a directory or a symlink (the rest change a regular file this
	// process created: the path cache answers what no regular file's
	// attributes decide meanwhile, pathAnswerScope). Protected by mu.
	dataPosted    map[string]int
	dataPostedAll int
	// dataPostedIno counts the same posted data changes by their file's
	// inode number (pipeFile.ino; 0: not known), which a server restart
	// keeps: a description attached to a lease ahead knows its file by
	// that number only (dataPostedToLocked). Protected by mu.
	dataPostedIno map[uint64]int
	// dataBorn counts the posted data changes by the number of the
	// creation of their file (a posted creation's, pipelineState.bornOf;
	// 0: not known), for dataOnlyOfNewerLocked. Protected by mu.
	dataBorn       map[uint64]int
	attrsPosted    int
	attrsPostedAny int
	// attrsBorn counts the posted attribute changes of regular files
	// this process created (fileAttrsChange) by the number of their
	// file's creation (metaPipeline.creations; 0: not known), for
	// attrsOnlyOfNewerLocked. Protected by mu.
	attrsBorn map[uint64]int
	// aliases maps the handle a posted creation's file was written
	// behind under before its reply to the file's gofer handle
	// (postcreate.go). Protected by mu.
	aliases map[string]aliasedHandle
	// rwReads are the gofer handles of files a writable description
	// of which was read by a forwarded call since the last write the
	// client made to them (posted, postBegin; or waited, which forgets
	// them all): a read of a writable description asks for a lease
	// only when its file is among them, so that a file written and read
	// in turn is not leased at each read for the next write to revoke.
	// Protected by mu.
	rwReads map[string]bool
	// removalsPosted counts the posted unlinks without a reply
	// (postunlink.go): a removal changes its file's link count and
	// ctime, so no fstat is answered meanwhile. Protected by mu.
	removalsPosted int

	// owned are the copies of owned files by description (ownedfile.go);
	// ownedPosted counts, by gofer handle, the posted owned writes
	// without a reply (also counted in dataPosted). Protected by mu.
	// ownedCount is len(owned), read without mu to skip the lookups
	// when there is none. Atomic. ownedBytes is the copies' data.
	// Protected by mu.
	owned       map[uint64]*ownedFile
	ownedPosted map[string]int
	ownedCount  atomic.Int32
	ownedBytes  int

	// procData are the /proc files' contents at their open by
	// description (procdata.go). Protected by mu. procCount is
	// len(procData), read without mu to skip the lookups when there is
	// none. Atomic.
	procData  map[uint64]*procContent
	procCount atomic.Int32

	// byInode are the leases ahead (dataahead.go) by the inode their stat
	// names, with their lease's id and file's inode number (aheadLease).
	// Protected by mu. aheadGrants and aheadUsed count those taken and the
	// posted opens attached to one. Atomic.
	byInode                map[inodeKey]aheadLease
	aheadGrants, aheadUsed atomic.Uint64

	// lent are the host fds the server lent for leased reads beyond a
	// window, by gofer file handle (lendfd.go); lentTick orders their
	// reads; lentAsked counts the asks for one by handle since the last
	// recovery, lentRefused says the server lends none on this stream.
	// Protected by mu. lentFDs, lentReads and lentReadBytes count the
	// fds lent, the reads through them and their bytes. Atomic.
	lent                              map[string]*lentFD
	lentTick                          uint64
	lentAsked                         map[string]int
	lentRefused                       bool
	lentFDs, lentReads, lentReadBytes atomic.Uint64

	// renewal extends the leases' expiry (leaserenew.go). Immutable.
	renewal *leaseRenewal

	// hits and grants count the calls answered here and the leases
	// taken, revokes the LeaseRevokes handled, inReplies those of them
	// that came in a reply and acks those acknowledged (onLeaseRevoke),
	// for the end-of-session log line. Atomic.
	hits, grants, revokes, inReplies, acks atomic.Uint64
	// revokedIDs counts the lease ids the LeaseRevokes named.
	revokedIDs atomic.Uint64
	// creations numbers the creations of files this client sends
	// (creationSent), as the count when they are sent. Atomic.
	creations atomic.Uint64
}

// leasedFile is one lease: until expires, the file's struct stat is stat,
// its size size, and its bytes from dataOff are data. seq orders the
// grants (the oldest is dropped first). Immutable once in readCache.files.
type leasedFile struct {
	expires time.Time
	stat    []byte
	size    uint64
	dataOff uint64
	data    []byte
	seq     uint64
	// seen is the count of creations sent (metaPipeline.creations)
	// when the grant arrived: the file is none created later
	// (attrsOnlyOfNewerLocked).
	seen uint64
	// ahead is the inode a lease ahead is found by (readCache.byInode;
	// nil: not a lease ahead), forgotten with the lease.
	ahead *inodeKey
	// used says a description was attached to the lease (markUsedLocked;
	// one not ahead is at its grant). Protected by readCache.mu.
	used bool
	// mmap is the plan a forwarded private mmap of the file resolved to
	// under this lease (zero: none), which private mmaps of its
	// descriptions reuse while it holds (mmapreuse.go). Protected by
	// readCache.mu.
	mmap mmapPlan
}

func newReadCache(renewal *leaseRenewal) *readCache {
	return &readCache{renewal: renewal, files: make(map[uint64]*leasedFile), descs: make(map[uint64]uint64),
		seekPosted: make(map[uint64]int), offsets: make(map[uint64]int64), dataPosted: make(map[string]int),
		rwReads: make(map[string]bool), lent: make(map[string]*lentFD), lentAsked: make(map[string]int)}
}

// leaseStamp is when a call that may bring a lease was sent, and in which
// recovery generation.
type leaseStamp struct {
	sent time.Time
	gen  uint64
}

// stamp returns the stamp of a call about to be sent (nil cache: zero).
func (rc *readCache) stamp() leaseStamp {
	if rc == nil {
		return leaseStamp{}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return leaseStamp{sent: time.Now(), gen: rc.gen}
}

// grant takes the lease a reply carried, unless a recovery or a
// revocation the server decided after granting it came between.
func (rc *readCache) grant(l *pb.ReadLease, at leaseStamp) {
	if rc == nil || l == nil || l.Id == 0 || l.File == 0 {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if at.gen != rc.gen {
		return
	}
	if l.Owned {
		rc.grantOwnedLocked(l, at)
		return
	}
	if l.Attach {
		// A lease revoked meanwhile is gone: nothing to attach to.
		if rc.files[l.Id] != nil {
			rc.attachLocked(l.File, l.Id)
		}
		return
	}
	if rc.addLeaseLocked(l, at, nil) {
		rc.attachLocked(l.File, l.Id)
	}
}

// grantedLease is an entry of readCache.grantOrder: lease id as granted
// with seq.
type grantedLease struct{ id, seq uint64 }

// addLeaseLocked keeps new lease l, of a call sent at at, unless a
// revocation the server decided after granting it came between, and
// reports whether it did. ahead, if not nil, is the inode a lease ahead
// is found by. Precondition: rc.mu.
func (rc *readCache) addLeaseLocked(l *pb.ReadLease, at leaseStamp, ahead *inodeKey) bool {
	if l.Epoch < rc.lastEpoch || l.TtlMs == 0 || len(l.Stat) == 0 || len(l.Data) > readCacheLimit/4 {
		return false
	}
	rc.dropLocked(l.Id) // granted again: its data is counted once
	now := time.Now()
	for {
		f, id := rc.oldestLocked()
		if f == nil {
			break
		}
		live := rc.renewal.live(f.expires, now)
		if rc.bytes+len(l.Data) <= readCacheLimit && len(rc.files) < maxLeasedFiles && live {
			break
		}
		if live {
			id = rc.evictionVictimLocked(f, id)
		}
		rc.dropLocked(id)
	}
	rc.lastSeq++
	rc.files[l.Id] = &leasedFile{
		expires: at.sent.Add(time.Duration(l.TtlMs) * time.Millisecond), stat: l.Stat,
		size: l.Size, dataOff: l.DataOffset, data: l.Data, seq: rc.lastSeq, seen: rc.creations.Load(), ahead: ahead,
	}
	rc.grantOrder = append(rc.grantOrder, grantedLease{id: l.Id, seq: rc.lastSeq})
	if len(rc.grantOrder) > 2*len(rc.files)+64 {
		// Mostly stale entries, passed (in front of grantHead) or
		// behind a lease that stays (revoked after it): forget them,
		// so the order holds at most about twice the leases.
		rc.compactGrantOrderLocked()
	}
	rc.bytes += len(l.Data)
	if ahead != nil {
		rc.unusedAhead += len(l.Data)
	}
	rc.grants.Add(1)
	return true
}

// oldestLocked returns the oldest lease held and its id (nil: none),
// passing the stale entries in front of it. Precondition: rc.mu.
func (rc *readCache) oldestLocked() (*leasedFile, uint64) {
	for ; rc.grantHead < len(rc.grantOrder); rc.grantHead++ {
		if g := rc.grantOrder[rc.grantHead]; rc.liveGrantLocked(g) {
			return rc.files[g.id], g.id
		}
	}
	return nil, 0
}

// evictionVictimLocked returns the lease the bounds drop when the oldest
// held, f (id), is live: f, unless it is a lease ahead no description
// used yet and such leases hold at most half of readCacheLimit, then the
// lease used first of those held, if one. The leases ahead of a
// listing's files are asked in the names' order, while cp -r copies a
// directory's files in the order of their inode numbers: in a large
// directory many are asked long before their copy, and the oldest grant
// first dropped them for the leases of the copies made since, after
// 32 MiB of copies: their fstat and copy_file_range then waited, and the
// server, which still counted the leases held, sent none again (GNU cp -r
// of /usr/include: 334 copies waited, 102 now). The half bounds what
// leases ahead never used (a cat of one name of a listing) may keep from
// the leases a process reads again. Precondition: rc.mu.
func (rc *readCache) evictionVictimLocked(f *leasedFile, id uint64) uint64 {
	if f.ahead == nil || f.used || rc.unusedAhead > readCacheLimit/2 {
		return id
	}
	for ; rc.usedHead < len(rc.usedOrder); rc.usedHead++ {
		if g := rc.usedOrder[rc.usedHead]; rc.usedGrantLocked(g) {
			return g.id
		}
	}
	return id
}

// markUsedLocked notes that a description was attached to lease f (id).
// Precondition: rc.mu.
func (rc *readCache) markUsedLocked(f *leasedFile, id uint64) {
	if f.used {
		return
	}
	f.used = true
	if f.ahead != nil {
		rc.unusedAhead -= len(f.data)
	}
	rc.usedOrder = append(rc.usedOrder, grantedLease{id: id, seq: f.seq})
	if len(rc.usedOrder) > 2*len(rc.files)+64 {
		live := rc.usedOrder[:0]
		for _, g := range rc.usedOrder[rc.usedHead:] {
			if rc.usedGrantLocked(g) {
				live = append(live, g)
			}
		}
		rc.usedOrder, rc.usedHead = live, 0
	}
}

// usedGrantLocked says whether g is the entry of a lease held and used
// (not dropped, nor granted again since). Precondition: rc.mu.
func (rc *readCache) usedGrantLocked(g grantedLease) bool {
	f := rc.files[g.id]
	return f != nil && f.seq == g.seq && f.used
}

// liveGrantLocked says whether g is the grant of a lease held (not
// dropped, nor granted again since). Precondition: rc.mu.
func (rc *readCache) liveGrantLocked(g grantedLease) bool {
	f := rc.files[g.id]
	return f != nil && f.seq == g.seq
}

// compactGrantOrderLocked drops grantOrder's passed and stale entries,
// keeping the order of the others. Precondition: rc.mu.
func (rc *readCache) compactGrantOrderLocked() {
	live := rc.grantOrder[:0]
	for _, g := range rc.grantOrder[rc.grantHead:] {
		if rc.liveGrantLocked(g) {
			live = append(live, g)
		}
	}
	rc.grantOrder, rc.grantHead = live, 0
}

// maxAttached bounds readCache.descs: beyond it, the entries of leases
// that are gone are forgotten (the descriptions of closed files are never
// announced to the cache).
const maxAttached = 4096

// attachLocked makes description desc use lease id. Precondition: rc.mu.
func (rc *readCache) attachLocked(desc, id uint64) {
	if len(rc.descs) >= maxAttached {
		for d, l := range rc.descs {
			if rc.files[l] == nil {
				delete(rc.descs, d)
			}
		}
		if len(rc.descs) >= maxAttached {
			clear(rc.descs)
		}
	}
	rc.descs[desc] = id
	if f := rc.files[id]; f != nil {
		rc.markUsedLocked(f, id)
	}
}

// dropLocked drops lease id. Precondition: rc.mu.
func (rc *readCache) dropLocked(id uint64) {
	f := rc.files[id]
	if f == nil {
		return
	}
	rc.bytes -= len(f.data)
	if f.ahead != nil && !f.used {
		rc.unusedAhead -= len(f.data)
	}
	delete(rc.files, id)
	if f.ahead != nil && rc.byInode[*f.ahead].id == id {
		delete(rc.byInode, *f.ahead)
	}
}

// revoke ends the leases r names (the receiving goroutine; in order with
// the replies).
func (rc *readCache) revoke(r *pb.LeaseRevoke) {
	if rc == nil || r == nil {
		return
	}
	rc.revokes.Add(1)
	rc.revokedIDs.Add(uint64(len(r.Ids)))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.lastEpoch = max(rc.lastEpoch, r.Epoch)
	for _, id := range r.Ids {
		rc.dropLocked(id)
	}
	rc.revokeOwnedLocked(r.Ids)
}

// dropAll forgets every lease (a recovery: the new server granted none).
func (rc *readCache) dropAll() {
	if rc == nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.gen++
	rc.lastEpoch = 0
	clear(rc.files)
	rc.grantOrder, rc.grantHead = rc.grantOrder[:0], 0
	rc.usedOrder, rc.usedHead, rc.unusedAhead = rc.usedOrder[:0], 0, 0
	clear(rc.descs)
	clear(rc.leaseOf)
	clear(rc.byInode)
	clear(rc.owned)
	rc.ownedCount.Store(0)
	rc.ownedBytes = 0
	clear(rc.procData)
	rc.procCount.Store(0)
	rc.bytes = 0
	rc.closeLentLocked()
}

// fileChange is what a posted call may change of a file.
type fileChange int

const (
	noChange fileChange = iota
	dataChange
	attrsChange
	// fileAttrsChange is an attrsChange of a regular file
	// (pipelineMeta: one this process created with O_CREAT|O_EXCL).
	fileAttrsChange
)

// changesFile are the calls that may be posted and change a file's data
// (and so its size and times) or only its attributes.
var changesFile = map[uintptr]fileChange{
	unix.SYS_WRITE: dataChange, unix.SYS_PWRITE64: dataChange, unix.SYS_WRITEV: dataChange, unix.SYS_PWRITEV: dataChange,
	unix.SYS_SENDFILE: dataChange, unix.SYS_COPY_FILE_RANGE: dataChange, // leased copies (sendfile.go)
	unix.SYS_CHMOD: attrsChange, unix.SYS_FCHMOD: attrsChange, unix.SYS_FCHMODAT: attrsChange,
	unix.SYS_CHOWN: attrsChange, unix.SYS_FCHOWN: attrsChange, unix.SYS_LCHOWN: attrsChange, unix.SYS_FCHOWNAT: attrsChange,
	unix.SYS_UTIMENSAT: attrsChange,
}

// posting is a posted call counted by postBegin, for postEnd.
type posting struct {
	change fileChange
	// handle is the gofer handle of the file a data change is to ("":
	// not known), ino its inode number (0: not known); born the number
	// of the creation of the file a fileAttrsChange or a data change is
	// to (0: not known).
	handle string
	ino    uint64
	born   uint64
}

// postBegin counts a posted call that may make change ch to a file (of
// gofer handle handle, "" if not known, and inode number ino, 0 if not
// known); the caller calls postEnd with what it returns (change
// noChange: nothing to end). born is the number of the creation of the
// file a fileAttrsChange is to (0: not known).
func (rc *readCache) postBegin(ch fileChange, handle string, ino, born uint64) posting {
	if rc == nil || ch == noChange {
		return posting{}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if ch == dataChange {
		handle = rc.aliasLocked(handle)
		rc.dataPosted[handle]++
		rc.dataPostedAll++
		if rc.dataPostedIno == nil {
			rc.dataPostedIno = make(map[uint64]int)
		}
		rc.dataPostedIno[ino]++
		if rc.dataBorn == nil {
			rc.dataBorn = make(map[uint64]int)
		}
		rc.dataBorn[born]++
		rc.wroteLocked(handle)
	} else {
		rc.attrsPosted++
		if ch == attrsChange {
			rc.attrsPostedAny++
			born = 0
		} else {
			if rc.attrsBorn == nil {
				rc.attrsBorn = make(map[uint64]int)
			}
			rc.attrsBorn[born]++
		}
	}
	return posting{change: ch, handle: handle, ino: ino, born: born}
}

func (rc *readCache) postEnd(p posting) {
	if rc == nil || p.change == noChange {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if p.change == dataChange {
		h := rc.aliasEndLocked(p.handle)
		if rc.dataPosted[h]--; rc.dataPosted[h] <= 0 {
			delete(rc.dataPosted, h)
		}
		rc.dataPostedAll--
		if rc.dataPostedIno[p.ino]--; rc.dataPostedIno[p.ino] <= 0 {
			delete(rc.dataPostedIno, p.ino)
		}
		if rc.dataBorn[p.born]--; rc.dataBorn[p.born] <= 0 {
			delete(rc.dataBorn, p.born)
		}
	} else {
		rc.attrsPosted--
		if p.change == attrsChange {
			rc.attrsPostedAny--
		} else if rc.attrsBorn[p.born]--; rc.attrsBorn[p.born] <= 0 {
			delete(rc.attrsBorn, p.born)
		}
	}
}

// creationSent numbers a creation of a file (an open with
// O_CREAT|O_EXCL, a posted creation, a mkdir) about to be sent: the
// file is none of those the answers and leases that arrived before
// know (attrsOnlyOfNewerLocked). 0: no cache.
func (rc *readCache) creationSent() uint64 {
	if rc == nil {
		return 0
	}
	return rc.creations.Add(1)
}

// creationsSeen returns the count of creations sent, for an answer that
// just arrived (0: no cache).
func (rc *readCache) creationsSeen() uint64 {
	if rc == nil {
		return 0
	}
	return rc.creations.Load()
}

// attrsOnlyOfNewerLocked says whether every posted attribute change
// without a reply is to a regular file this process created after seen
// creations were sent (fileAttrsChange, born > seen). Such a file is
// none that an answer or lease which arrived when the count was seen is
// about: the creation (O_CREAT|O_EXCL, or a posted creation of a name
// known missing) made a new inode after the server gave that answer,
// and while the answer's leases hold, its path names the same file and
// that file was not changed. Precondition: rc.mu.
func (rc *readCache) attrsOnlyOfNewerLocked(seen uint64) bool {
	return rc.attrsFromLocked() > seen
}

// attrsFromLocked returns the lowest creation number (creationSent) of
// the files the posted attribute changes without a reply are to: regular
// files this process created (fileAttrsChange). 0: one's file is not
// known by its creation, or may be a directory or a symlink
// (attrsChange); MaxUint64: none is in flight. Precondition: rc.mu.
func (rc *readCache) attrsFromLocked() uint64 {
	if rc.attrsPostedAny != 0 {
		return 0
	}
	from := uint64(math.MaxUint64)
	for born := range rc.attrsBorn {
		from = min(from, born)
	}
	return from
}

// newFilesFromLocked returns the lowest creation number
// (creationSent) of the files the posted changes without a reply are to:
// attribute changes of regular files this process created
// (fileAttrsChange) and data changes (a posted creation's file's, else
// 0). 0: one's file is not known by its creation; MaxUint64: none is in
// flight. Precondition: rc.mu.
func (rc *readCache) newFilesFromLocked() uint64 {
	if rc.dataPosted[""] != 0 {
		return 0
	}
	from := rc.attrsFromLocked()
	for born := range rc.dataBorn {
		from = min(from, born)
	}
	return from
}

// dataPostedToLocked says whether a posted change of data without a
// reply may be to the file of gofer handle handle ("": not known) and
// inode number ino (0: not known) whose lease arrived when seen
// creations had been sent. A file known by its inode number only (a
// description attached to a lease ahead: dataahead.go) is told from
// another by that number when every change in flight knows its file's:
// a gofer handle alone does not tell (a posted creation's writes count
// under a handle of its own until its reply), the number does, and
// stays the same across a recovery, whose re-sent changes keep theirs;
// if one does not know it, any change may be to the file, as for one
// known by nothing. A file without a gofer handle (do's overlay) is
// none that a posted creation sent later made (as for
// attrsOnlyOfNewerLocked): tar's fstat of /etc/passwd, opened for each
// member, comes while the previous member's data is written behind.
// Precondition: rc.mu.
func (rc *readCache) dataPostedToLocked(handle string, ino, seen uint64) bool {
	switch {
	case rc.dataPostedAll == 0:
		return false
	case handle == "" && ino != 0 && rc.dataPostedIno[0] == 0:
		return rc.dataPostedIno[ino] > 0
	case rc.dataPosted[""] > 0:
		return true
	case handle != "":
		return rc.dataPosted[handle] > 0
	}
	for born := range rc.dataBorn {
		if born <= seen {
			return true
		}
	}
	return false
}

// liveLocked returns the lease of description desc, a file of gofer
// handle handle ("": not known), if it may answer now: a read (attrs
// false) or an fstat. A posted write to another file does not hold it
// back (the handles of one inode are equal, as the mapped-file check of
// a write behind relies on too). Precondition: rc.mu.
func (rc *readCache) liveLocked(desc uint64, attrs bool, handle string) *leasedFile {
	return rc.liveOfLocked(desc, attrs, pipeFile{handle: handle})
}

// liveOfLocked is liveLocked for description desc of file pf: known by
// its gofer handle, or by its inode number only (pf.ino, a lease
// ahead's: dataPostedToLocked).
// Precondition: rc.mu.
func (rc *readCache) liveOfLocked(desc uint64, attrs bool, pf pipeFile) *leasedFile {
	id := rc.descs[desc]
	f := rc.files[id]
	if f == nil || (attrs && (!rc.attrsOnlyOfNewerLocked(f.seen) || rc.removalsPosted > 0)) {
		return nil
	}
	if rc.dataPostedToLocked(pf.handle, pf.ino, f.seen) {
		return nil
	}
	if !rc.renewal.live(f.expires, time.Now()) {
		rc.dropLocked(id)
		return nil
	}
	return f
}

// soleDescription returns the description of pid's fd if pid's fd table
// is its own (soleFD) and no other fd table holds the description.
func (c *procIDCache) soleDescription(pid, fd int32) (uint64, bool) {
	file, ok := c.soleFD(pid, fd)
	if !ok {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	own := c.byPID[pid].fdTable
	for tab, fds := range c.openFDs {
		if tab == own {
			continue
		}
		for _, f := range fds {
			if f == file {
				return 0, false
			}
		}
	}
	return file, true
}

// cachedFile returns the record of t's fd's description (with sole
// demanding that no one else may move its offset) if it may be answered
// from the cache: a regular gofer file. In a process with several
// threads, no call of another thread in flight may remove an fd or (sole)
// move the description's offset (threadorder.go). Precondition: for a
// process with several threads, t.proc.callOrder is held.
func (t *task) cachedFile(fd int32, sole bool) (uint64, pipeFile, bool) {
	if t.c.rcache == nil || t.c.files.pending() {
		return 0, pipeFile{}, false
	}
	var desc uint64
	var ok bool
	if sole {
		desc, ok = t.c.ids.soleDescription(t.proc.pid, fd)
	} else {
		desc, ok = t.c.ids.soleFD(t.proc.pid, fd)
	}
	if !ok || !t.singleThreaded() && (!t.threadedPosting() || !t.proc.othersQuietLocked(desc, sole)) {
		return 0, pipeFile{}, false
	}
	ps := &t.c.pipe
	ps.mu.Lock()
	defer ps.mu.Unlock()
	f, known := ps.files[desc]
	if !known || !f.regular || f.flags&(unix.O_PATH|unix.O_DIRECT) != 0 {
		return 0, pipeFile{}, false
	}
	return desc, f, true
}

// iovec is one buffer of a read.
type iovec struct{ base, len uint64 }

// readBuffers returns the buffers of a read-family call and their total,
// if the client can tell them (else the server decides: EFAULT, EINVAL).
func (t *task) readBuffers(sysno uintptr, args [6]uint64) ([]iovec, uint64, bool) {
	switch sysno {
	case unix.SYS_READ, unix.SYS_PREAD64:
		n := args[2]
		return []iovec{{args[1], n}}, n, int64(n) > 0 && n <= sysabi.MaxBuffer
	case unix.SYS_READV, unix.SYS_PREADV:
		cnt := args[2]
		if cnt == 0 || cnt > sysabi.MaxIovecs {
			return nil, 0, false
		}
		raw := make([]byte, 16*cnt)
		if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(args[1]), raw, usermem.IOOpts{}); err != nil {
			return nil, 0, false
		}
		iov := make([]iovec, cnt)
		var total uint64
		for i := range iov {
			iov[i] = iovec{binary.LittleEndian.Uint64(raw[16*i:]), binary.LittleEndian.Uint64(raw[16*i+8:])}
			if int64(iov[i].len) < 0 || iov[i].len > sysabi.MaxBuffer {
				return nil, 0, false
			}
			total += iov[i].len
		}
		return iov, total, total > 0 && total <= sysabi.MaxBuffer
	}
	return nil, 0, false
}

// cachedRead answers read, pread64, readv or preadv from a lease, if it
// may (see above), and returns the count.
func (t *task) cachedRead(sysno uintptr, args [6]uint64) (uint64, bool) {
	return t.cachedReadOf(sysno, args, false)
}

// cachedReadOf is cachedRead; asked says the call already asked for a
// lent fd of its file.
func (t *task) cachedReadOf(sysno uintptr, args [6]uint64, asked bool) (uint64, bool) {
	fd := int32(args[0])
	positional := sysno == unix.SYS_PREAD64 || sysno == unix.SYS_PREADV
	if positional && int64(args[3]) < 0 {
		return 0, false
	}
	// A positional read does not use the offset: others may share it.
	// A writable description's reads are answered as a read-only one's:
	// a write through it is posted (liveLocked answers nothing of the
	// file until its reply) or waited, and revokes the lease before its
	// reply either way.
	desc, pf, ok := t.cachedFile(fd, !positional)
	if !ok || pf.flags&unix.O_ACCMODE == unix.O_WRONLY {
		return 0, false
	}
	iov, total, ok := t.readBuffers(sysno, args)
	if !ok {
		return 0, false
	}
	if n, ok := t.ownedRead(desc, pf, fd, positional, int64(args[3]), iov, total); ok {
		return n, true
	}
	rc := t.c.rcache
	rc.mu.Lock()
	desc, ok = rc.currentLocked(desc)
	var f *leasedFile
	if ok {
		f = rc.liveOfLocked(desc, false, pf)
	}
	if f == nil {
		rc.mu.Unlock()
		return 0, false
	}
	off := int64(args[3])
	if !positional {
		off = t.offsetLocked(desc)
	}
	var data []byte
	if uint64(off) < f.size {
		end := min(uint64(off)+total, f.size)
		if uint64(off) >= f.dataOff && end <= f.dataOff+uint64(len(f.data)) {
			data = f.data[uint64(off)-f.dataOff : end-f.dataOff]
		} else if data, ok = rc.readLentLocked(pf.handle, uint64(off), end-uint64(off)); !ok {
			// Beyond the lease's window: through a lent fd (lendfd.go),
			// once the server lent one, or by the server.
			rc.mu.Unlock()
			if !asked && t.askLentFD(fd, desc, pf.handle) {
				return t.cachedReadOf(sysno, args, true)
			}
			return 0, false
		}
	}
	rc.mu.Unlock()
	if !t.copyOutVec(iov, data) {
		return 0, false
	}
	n := uint64(len(data))
	if !positional && n > 0 && !t.postAdvance(desc, fd, off, n) {
		return 0, false
	}
	rc.hits.Add(1)
	t.cached = true
	return n, true
}

// offsetLocked returns description desc's offset: the client's own while
// its posted lseeks are unanswered, else its record's. The record may have
// changed since cachedFile read it (a posted lseek's reply): it is read
// under rc.mu, which that reply's done takes after its records were
// folded. Precondition: t.c.rcache.mu.
func (t *task) offsetLocked(desc uint64) int64 {
	rc := t.c.rcache
	if rc.seekPosted[desc] > 0 {
		return rc.offsets[desc]
	}
	t.c.pipe.mu.Lock()
	defer t.c.pipe.mu.Unlock()
	return t.c.pipe.files[desc].offset
}

// cachedLseek answers lseek(fd, off, whence) of a description whose reads
// the cache may answer (SEEK_END: while a lease tells the size) and posts
// it as lseek(fd, result, SEEK_SET), if the offset moves.
func (t *task) cachedLseek(args [6]uint64) (uint64, bool) {
	fd, off, whence := int32(args[0]), int64(args[1]), args[2]
	desc, pf, ok := t.cachedFile(fd, true)
	if !ok {
		return 0, false
	}
	if n, ok := t.ownedLseek(desc, pf, fd, off, whence); ok {
		return n, true
	}
	if pf.flags&unix.O_ACCMODE != unix.O_RDONLY {
		return 0, false
	}
	rc := t.c.rcache
	rc.mu.Lock()
	if desc, ok = rc.currentLocked(desc); !ok {
		rc.mu.Unlock()
		return 0, false
	}
	cur := t.offsetLocked(desc)
	n, ok := seekFrom(whence, off, cur, func() (int64, bool) {
		f := rc.liveOfLocked(desc, false, pf)
		if f == nil || f.size > math.MaxInt64 {
			return 0, false
		}
		return int64(f.size), true
	})
	rc.mu.Unlock()
	if !ok {
		return 0, false
	}
	if n != cur && !t.postOffset(desc, n, [6]uint64{uint64(fd), uint64(n), unix.SEEK_SET}) {
		return 0, false
	}
	rc.hits.Add(1)
	t.cached = true
	return uint64(n), true
}

// seekFrom returns where lseek(fd, off, whence) moves an offset at cur
// of a file whose size end tells (SEEK_SET, SEEK_CUR, SEEK_END); ok is
// false for another whence, a size not known, and an overflow or a
// negative offset (the server's EINVAL): the server answers those.
func seekFrom(whence uint64, off, cur int64, end func() (int64, bool)) (n int64, ok bool) {
	var base int64
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		base = cur
	case unix.SEEK_END:
		if base, ok = end(); !ok {
			return 0, false
		}
	default:
		return 0, false
	}
	n = base + off
	return n, !((off > 0 && n < base) || n < 0)
}

// postAdvance posts lseek(fd, n, SEEK_CUR) for a read of n bytes at off
// answered here.
func (t *task) postAdvance(desc uint64, fd int32, off int64, n uint64) bool {
	return t.postOffset(desc, off+int64(n), [6]uint64{uint64(fd), n, unix.SEEK_CUR})
}

// postOffset posts lseek(args), which moves description desc to off; the
// description's offset is the client's own (off) until its reply.
func (t *task) postOffset(desc uint64, off int64, args [6]uint64) bool {
	rc := t.c.rcache
	rc.mu.Lock()
	desc, ok := rc.currentLocked(desc)
	if !ok {
		rc.mu.Unlock()
		return false
	}
	rc.seekPosted[desc]++
	rc.offsets[desc] = off
	rc.mu.Unlock()
	done := func(*pb.Reply) {
		rc.mu.Lock()
		desc := rc.movedLocked(desc)
		if rc.seekPosted[desc]--; rc.seekPosted[desc] <= 0 {
			delete(rc.seekPosted, desc)
			delete(rc.offsets, desc)
		}
		rc.mu.Unlock()
	}
	// Nothing waits for its reply: the client answers the offset.
	pc := newPostedCall(t.tid, unix.SYS_LSEEK, args, nil).replyCanWait()
	if o, ok := t.seekTakeable(desc, int32(args[0])); ok {
		// Posted to be taken back with the open its close may
		// follow at once (unpostOpen).
		if !t.c.conn.PostCallTakeBack(pc, done) {
			done(nil)
			return false
		}
		o.seeks[o.nSeeks] = unsentSeek{call: &pc.call, done: done}
		o.nSeeks++
		t.posted = true
		return true
	}
	if !t.postChange(pc, done, "", 0, noChange, 0) {
		done(nil)
		return false
	}
	return true
}

// cachedFstat answers fstat(fd, buf) or newfstatat(fd, "", buf,
// AT_EMPTY_PATH) from a read lease, from the stat an owned file's
// creating open brought (ownedfile.go), or from the path cache's stat
// answer of the path the description was opened by (openstat.go), if it
// may.
func (t *task) cachedFstat(sysno uintptr, args [6]uint64) bool {
	fd, addr := int32(args[0]), args[1]
	if sysno == unix.SYS_NEWFSTATAT {
		flags := args[3]
		if fd == unix.AT_FDCWD || flags&unix.AT_EMPTY_PATH == 0 ||
			flags&^uint64(unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT) != 0 {
			return false
		}
		var b [1]byte
		if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(args[1]), b[:], usermem.IOOpts{}); err != nil || b[0] != 0 {
			return false
		}
		addr = args[2]
	}
	return t.leasedFstat(fd, addr) || t.ownedFstat(fd, addr) || t.openedFstat(fd, addr)
}

// leasedFstat answers an fstat of fd (buffer at addr) from a read lease,
// if it may.
func (t *task) leasedFstat(fd int32, addr uint64) bool {
	desc, pf, ok := t.cachedFile(fd, false)
	if !ok {
		return false
	}
	rc := t.c.rcache
	rc.mu.Lock()
	var f *leasedFile
	if desc, ok = rc.currentLocked(desc); ok {
		f = rc.liveOfLocked(desc, true, pf)
	}
	rc.mu.Unlock()
	if f == nil {
		return false
	}
	if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(addr), f.stat, usermem.IOOpts{}); err != nil {
		return false
	}
	rc.hits.Add(1)
	t.cached = true
	return true
}

// onLeaseRevoke handles a LeaseRevoke (a push, or a reply's lease_revoke;
// the receiving goroutine, in order with the replies) and acknowledges
// it once the leases are dropped and the opens posted on them are on the
// stream (postedOpens.revoking; off the receiving goroutine: a send may
// wait), unless it is the client's own (LeaseRevoke.own: its own calls'
// changes revoked them, and nothing waits for the acknowledgment; the
// opens it posted on them need no order before a change they sent after
// them).
func (c *client) onLeaseRevoke(r *pb.LeaseRevoke) {
	if r == nil {
		return
	}
	c.rcache.revoke(r)
	c.pcache.revoke(r)
	c.idle.revoke(r)
	if r.Own {
		return
	}
	if c.rcache != nil {
		c.rcache.acks.Add(1)
	}
	ack := &pb.ClientMessage{Msg: &pb.ClientMessage_LeaseRevoked{LeaseRevoked: &pb.LeaseRevoked{Epoch: r.Epoch}}}
	go func() {
		c.opens.revoking.Lock()
		//lint:ignore SA2001 an empty section: it waits for the posts begun before
		c.opens.revoking.Unlock()
		if err := c.conn.Send(ack); err != nil {
			c.log.Debug("lease revocation not acknowledged", "err", err)
		}
	}()
}

// leaseCalls are the calls whose reply may bring a lease.
var leaseCalls = map[uintptr]bool{
	unix.SYS_OPEN: true, unix.SYS_OPENAT: true, unix.SYS_READ: true, unix.SYS_READV: true,
	unix.SYS_PREAD64: true, unix.SYS_PREADV: true, unix.SYS_FSTAT: true, unix.SYS_NEWFSTATAT: true,
	unix.SYS_SENDFILE: true, unix.SYS_COPY_FILE_RANGE: true, // of the in file (sendfile.go)
}

// wantsLease says whether a lease brought by call sysno could answer the
// calling process's later calls (Syscall.lease_wanted).
func (t *task) wantsLease(sysno uintptr) bool {
	return t.c.rcache != nil && leaseCalls[sysno] && (t.threadedPosting() || t.singleThreaded())
}

// readCalls are the calls cachedRead answers.
var readCalls = map[uintptr]bool{
	unix.SYS_READ: true, unix.SYS_PREAD64: true, unix.SYS_READV: true, unix.SYS_PREADV: true,
}

// readMayLease says whether forwarded read-family call sysno on fd is
// worth a lease: always for a read-only description; for a writable one
// only if its file was read before with no write by this client since
// (rwReads), which this call then records.
func (t *task) readMayLease(sysno uintptr, fd int32) bool {
	rc := t.c.rcache
	if rc == nil || !readCalls[sysno] {
		return true
	}
	desc, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return true
	}
	pf, known := t.c.pipe.fileOf(desc)
	if !known || pf.flags&unix.O_ACCMODE == unix.O_RDONLY || pf.handle == "" {
		return true
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.rwReads[pf.handle] {
		return true
	}
	if len(rc.rwReads) >= maxAttached {
		clear(rc.rwReads)
	}
	rc.rwReads[pf.handle] = true
	return false
}

// wroteLocked forgets that the file of gofer handle handle ("": any file)
// was read since its last write. Precondition: rc.mu.
func (rc *readCache) wroteLocked(handle string) {
	if handle == "" {
		clear(rc.rwReads)
		return
	}
	delete(rc.rwReads, handle)
}

// waitedWrite notes a forwarded call that may write a file's data: no
// file was read since.
func (rc *readCache) waitedWrite(sysno uintptr) {
	if rc == nil || (changesFile[sysno] != dataChange && !truncates[sysno]) {
		return
	}
	rc.mu.Lock()
	rc.wroteLocked("")
	rc.mu.Unlock()
}

// truncates are the calls that change a file's size without being
// posted.
var truncates = map[uintptr]bool{
	unix.SYS_TRUNCATE: true, unix.SYS_FTRUNCATE: true, unix.SYS_FALLOCATE: true,
}

// hitCount and grantCount are the calls answered here and the leases
// taken (0 without a cache).
func (rc *readCache) hitCount() uint64 {
	if rc == nil {
		return 0
	}
	return rc.hits.Load()
}

func (rc *readCache) grantCount() uint64 {
	if rc == nil {
		return 0
	}
	return rc.grants.Load()
}

// countInReply counts a LeaseRevoke that came in a reply.
func (rc *readCache) countInReply() {
	if rc != nil {
		rc.inReplies.Add(1)
	}
}

// revokeCounts returns how many LeaseRevokes the client handled, how
// many of them came in replies, how many it acknowledged (not its own:
// onLeaseRevoke) and how many lease ids they named.
func (rc *readCache) revokeCounts() (revokes, inReplies, acks, ids uint64) {
	if rc == nil {
		return 0, 0, 0, 0
	}
	return rc.revokes.Load(), rc.inReplies.Load(), rc.acks.Load(), rc.revokedIDs.Load()
}
