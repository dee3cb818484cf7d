package client

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Posted opens (docs/COMPATIBILITY.md, "Pipelined calls").
//
// A read-only open or openat (flags among postedOpenFlags) is posted when
// the client knows its result:
//   - the path cache holds the answer of the same open (same path,
//     flags but O_CLOEXEC, start, credentials) that a waited one got under
//     a path lease: success, a regular file or a directory.
//     The server grants that lease only for a read-only open of a gofer
//     file or directory, and revokes it before the reply of any change to
//     a name or a file's attributes, so while it holds, the same open
//     succeeds again and opens the same file;
//   - the caller's process has one thread and its fd table is its own
//     (as for a posted dup or close), no posted call that may change a
//     file is without a reply and no shared mapping is dirty (as for the
//     path cache's answers), and no description of this client holds a
//     file lease (F_SETLEASE: the open would wait for its break);
//   - the lowest free fd of the client's copy of the fd table is below
//     RLIMIT_NOFILE.
//
// The client sets that fd in its copy of the table at once, to a
// provisional description id (bit 62 set: the server's ids count from
// 1), tells the application the fd, and posts the open with
// Syscall.install_fd: the server installs the description at exactly
// that fd. The provisional description is a regular file (or directory)
// opened read-only at offset 0, and is attached to the read lease the
// client holds for the file, so fstat, read and lseek of the new fd are
// answered from the lease at once, the offset advances posted as lseeks,
// as for any leased description. The file is known by the description
// the waited open made (its token): the kept answer names it, the
// descriptions its posted opens make inherit it, and a read lease
// attached to any of them is the file's (a gofer handle would name the
// file too, but files of do's overlay have none). That holds because the
// answer's path lease does: while it holds, the path names the same file.
// The lease is the file's, whichever description reads it: the server
// revokes it before the reply of any change to the file's data or
// attributes, so the new description's answers are the server's as much
// as the earlier description's were.
//
// The open's reply names the server's description (Reply.opened_file):
// the client replaces the provisional id with it wherever it put it (the
// fd, fds a posted dup copied it to, the read cache's attachment and the
// posted lseeks' offset, the path the description was opened by). A
// posted open that fails (the file removed by a change the server did
// not revoke the lease for — made outside it — in the lease's last
// second, ENFILE, the gofer gone) is logged; the client forgets the fd,
// and the application's next call on it gets EBADF from the server, as
// for an fd closed behind its back. The open is in the session's calls
// in flight until its reply, so a recovery re-sends it, with its fd.

// postedOpenFlags are the flags of a read-only open that may be posted:
// none changes what the open does but which file it may open (and
// O_NONBLOCK, kept on the description, what later calls do).
const postedOpenFlags = unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_LARGEFILE | unix.O_NOFOLLOW | unix.O_DIRECTORY | unix.O_NONBLOCK

// postedOpenKey is the path cache's key number for the answers of opens:
// a number no system call has (an answer of an open is no stat's).
const postedOpenKey = 1<<16 | unix.SYS_OPENAT

// openedRegular and openedDir are what a kept open answer opened
// (pathAnswer.ret); its out is the file's token (8 bytes, little-endian),
// the count of creations sent when it arrived (8 bytes: mayPostOpen)
// and its gofer handle.
const (
	openedRegular = 1
	openedDir     = 2
)

// statToken is the bit of the token of a file a posted open found by a
// kept stat answer (statOpenAnswer): no description's id has it.
const statToken = 1 << 61

// atFDCWD is AT_FDCWD as an argument register holds it.
const atFDCWD uint64 = 1<<64 + unix.AT_FDCWD

// provisionalDesc is the bit of a provisional description id.
const provisionalDesc = 1 << 62

// maxLeaseIndex bounds readCache.leaseOf and postedOpens.tokens; beyond
// it, all is forgotten.
const maxLeaseIndex = 4096

func init() {
	// The key of an open's answer, with its arguments as openAt's
	// (dirfd, path, flags without O_CLOEXEC).
	pathCallShapes[postedOpenKey] = pathCallShape{dirfd: 0, path: 1, buf: -1, size: -1, others: []int{2}}
}

// postedOpens is what posted opens need besides the caches. mu is a leaf.
type postedOpens struct {
	mu sync.Mutex
	// tokens are the token of each description a posted open made (a
	// description not there is its own token): a file's identity
	// across its descriptions (readCache.leaseOf). Protected by mu.
	tokens map[uint64]uint64
	// seen are the keys of waited opens made before: the answers of
	// an open made for the first time are kept as unasked
	// (pathHold.unasked), so that files opened once (a build's
	// sources, find's directories) hold leases whose revocation does
	// not count as wasted (pathCache.wasted) and make the client stop
	// asking for leases. Protected by mu.
	seen map[pathKey]bool
	// next numbers provisional descriptions; posted counts the posted
	// opens, created the posted creating opens (postcreate.go), unposted
	// the posted opens taken back with their close (unpostOpen),
	// movedToDup those moved to their dup's fd, dupsDropped the posted
	// dups taken back with their close (dupmove.go). Atomic.
	next, posted, created, unposted, movedToDup, dupsDropped atomic.Uint64
	// removed counts the posted unlinks (postunlink.go), mkdirs the
	// posted mkdirs (postmkdir.go). Atomic.
	removed, mkdirs atomic.Uint64
	// revoking orders posted opens before lease revocations'
	// acknowledgments: postOpen holds it for reading from its look at
	// the kept answer to its Post, and an acknowledgment takes it for
	// writing, after the caches dropped the revoked answers, before it
	// is sent (onLeaseRevoke). So an open posted on a revoked answer
	// is on the stream before the acknowledgment, and the server runs
	// it before the change the revocation announced.
	revoking sync.RWMutex
}

// postedOpen is one posted open: the fd table and fd it took, the
// provisional description, and when it was sent.
type postedOpen struct {
	table uint64
	fd    int32
	desc  uint64
	stamp leaseStamp
}

// openKeyOf returns the path cache's key of a read-only open (its flags
// among postedOpenFlags) and its flags.
func (t *task) openKeyOf(sysno uintptr, args [6]uint64) (pathKey, uint32, bool) {
	if t.c.pcache == nil || t.c.cfg.NoPostedOpens {
		return pathKey{}, 0, false
	}
	// Asked up to four times a call (the ENOENT answer's, the posted
	// open's, the opened path's and its stat's keys): made once.
	m := &t.callMemo.openKey
	if m.valid && m.sysno == sysno && m.args == [3]uint64(args[:3]) {
		return m.key, m.flags, m.ok
	}
	k, flags, ok := t.makeOpenKey(sysno, args)
	*m = openKeyMemo{valid: true, sysno: sysno, args: [3]uint64(args[:3]), key: k, flags: flags, ok: ok}
	return k, flags, ok
}

// makeOpenKey is openKeyOf without the memo.
func (t *task) makeOpenKey(sysno uintptr, args [6]uint64) (pathKey, uint32, bool) {
	var dirfd, path uint64
	var flags uint32
	switch sysno {
	case unix.SYS_OPEN:
		dirfd, path, flags = atFDCWD, args[0], uint32(args[1])
	case unix.SYS_OPENAT:
		dirfd, path, flags = args[0], args[1], uint32(args[2])
	default:
		return pathKey{}, 0, false
	}
	if flags&unix.O_ACCMODE != unix.O_RDONLY || flags&^uint32(postedOpenFlags) != 0 {
		return pathKey{}, 0, false
	}
	k, ok := t.pathKeyOf(postedOpenKey, [6]uint64{dirfd, path, uint64(flags &^ unix.O_CLOEXEC)})
	return k, flags, ok
}

// openToKeep returns the key of a waited open whose answer the path
// cache would keep (its call then wants a path lease), and whether no
// open of that key was made before (first: its answers are kept
// unasked).
func (t *task) openToKeep(sysno uintptr, args [6]uint64) (k pathKey, wanted, first bool) {
	k, _, ok := t.openKeyOf(sysno, args)
	if !ok {
		return pathKey{}, false, false
	}
	first = !t.c.opens.seenBefore(k)
	pc := t.c.pcache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return k, !time.Now().Before(pc.quietUntil), first
}

// maxSeenOpens bounds postedOpens.seen; beyond it, all is forgotten.
const maxSeenOpens = 1024

// seenBefore reports whether an open of key k was made before, and
// notes it.
func (po *postedOpens) seenBefore(k pathKey) bool {
	po.mu.Lock()
	defer po.mu.Unlock()
	if po.seen[k] {
		return true
	}
	if po.seen == nil || len(po.seen) >= maxSeenOpens {
		po.seen = make(map[pathKey]bool)
	}
	po.seen[k] = true
	return false
}

// keepOpen keeps the answer of a waited open of key k (made for the first
// time: openToKeep), sent at at, if its reply carries a path lease (it
// opened a regular file or a directory).
func (t *task) keepOpen(k pathKey, first bool, reply *pb.Reply, at leaseStamp) {
	if reply.Errno != 0 || reply.PathLease == nil || reply.PathLease.Id == 0 || reply.PathLease.TtlMs == 0 {
		return
	}
	desc, ok := t.c.ids.soleFD(t.proc.pid, int32(reply.Ret))
	if !ok {
		return
	}
	f, known := t.c.pipe.fileOf(desc)
	var kind uint64
	switch {
	case !known:
		return
	case f.regular:
		kind = openedRegular
	default:
		// The server leases the opens of regular files and
		// directories only (checkOpenedLeasable).
		kind = openedDir
	}
	out := binary.LittleEndian.AppendUint64(nil, t.c.opens.tokenOf(desc))
	out = binary.LittleEndian.AppendUint64(out, t.c.rcache.creationsSeen())
	a := pathAnswer{ret: kind, out: append(out, f.handle...), handle: f.handle}
	a.own.unasked = first
	t.c.pcache.keepAnswer(k, reply.PathLease, at, a, true)
}

// tokenOf returns description desc's token (see above).
func (po *postedOpens) tokenOf(desc uint64) uint64 {
	po.mu.Lock()
	defer po.mu.Unlock()
	if tok, ok := po.tokens[desc]; ok {
		return tok
	}
	return desc
}

// setToken sets description desc's token (0: forget it), and forgets
// prov's.
func (po *postedOpens) setToken(desc, prov, token uint64) {
	po.mu.Lock()
	defer po.mu.Unlock()
	delete(po.tokens, prov)
	if desc == 0 || token == 0 {
		return
	}
	if po.tokens == nil || len(po.tokens) >= maxLeaseIndex {
		po.tokens = make(map[uint64]uint64)
	}
	po.tokens[desc] = token
}

// openAnswer returns what the kept answer of key k opened, the file's
// token, the count of creations sent when the answer arrived and the
// file's gofer handle, if the answer holds.
func (pc *pathCache) openAnswer(k pathKey) (kind, token, seen uint64, handle string, ok bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	a := pc.answerLocked(k)
	if a == nil || len(a.out) < 16 || (a.ret != openedRegular && a.ret != openedDir) || pc.blockedLocked(a) {
		return 0, 0, 0, "", false
	}
	pc.usedLocked()
	handle = a.handle
	if handle == "" {
		handle = string(a.out[16:])
	}
	return a.ret, binary.LittleEndian.Uint64(a.out), binary.LittleEndian.Uint64(a.out[8:]), handle, true
}

// postOpen posts a read-only open if it may (see above) and returns its
// fd.
func (t *task) postOpen(sysno uintptr, args [6]uint64) (uint64, bool) {
	k, flags, ok := t.openKeyOf(sysno, args)
	if !ok {
		return 0, false
	}
	// Another thread's call in flight that is not neutral could take
	// the fd number or change what the path names (threadorder.go).
	p, ok := t.lockOpenOrder()
	if !ok {
		return 0, false
	}
	threaded := p != nil
	defer p.unlockOrder()
	t.c.opens.revoking.RLock()
	defer t.c.opens.revoking.RUnlock()
	kind, token, seen, handle, ok := t.c.pcache.openAnswer(k)
	var listed listedOpen
	if ok {
		ok = t.mayPostOpen(handle, seen)
	} else if kind, listed, ok = t.statOpenAnswer(k); ok {
		// A new token: no read lease is the file's yet (the open's
		// reply may bring one).
		token = statToken | t.c.opens.next.Add(1)
	}
	if !ok || t.c.pipe.anyFileLease() {
		return 0, false
	}
	limit, ok := t.c.pipe.fdLimit(t.proc.pid)
	if !ok {
		return 0, false
	}
	desc := provisionalDesc | t.c.opens.next.Add(1)
	table, fd, ok := t.c.ids.reserveOpen(t.proc.pid, desc, limit, flags&unix.O_CLOEXEC != 0)
	if !ok {
		return 0, false
	}
	po := postedOpen{table: table, fd: fd, desc: desc, stamp: t.c.rcache.stamp()}
	var fileIno uint64
	t.c.opens.setToken(desc, 0, token)
	t.c.rcache.addProvisional(desc)
	if kind == openedRegular {
		t.c.attachLeaseOf(desc, token)
		if listed.found {
			// A lease ahead names its file's inode number: a posted
			// copy into another file then holds none of the new
			// description's reads back (readCache.dataPostedToLocked).
			fileIno, _ = t.c.rcache.attachInode(desc, listed.st.Dev, listed.st.Ino)
			t.c.pcache.noteAheadSource(desc, k, listed.lst)
		}
	}
	ps := &t.c.pipe
	ps.mu.Lock()
	if ps.files == nil {
		ps.files = make(map[uint64]pipeFile)
	}
	ps.files[desc] = pipeFile{gofer: true, regular: kind == openedRegular, flags: sysabi.OpenFlags(flags) & sysabi.KeptOpenFlags, handle: handle, ino: fileIno}
	ps.mu.Unlock()
	t.noteOpen(sysno, args, uint64(fd))
	oc := &postedOpenCall{c: t.c, fd: fd}
	oc.set(t.tid, sysno, args, sysabi.Inputs(sysno, args, appMemory{t}))
	oc.sc.InstallFd, oc.sc.LeaseWanted = &oc.fd, t.wantsLease(sysno)
	oc.sc.AfterPosted = threaded
	// A regular file's reads that find no lease yet are forwarded, and
	// their replies bring this one's: nothing waits for it.
	oc.sc.ReplyCanWait = kind == openedRegular
	oc.unsent = unsentOpen{call: &oc.call, po: po, cloexec: flags&unix.O_CLOEXEC != 0}
	// Posted to be taken back: its close may follow at once (unpostOpen).
	if !t.c.conn.PostCallTakeBack(&oc.postedCall, oc.done) {
		// Recovering: the open waits as usual.
		t.c.openDone(po, nil)
		return 0, false
	}
	t.posted = true
	t.c.opens.posted.Add(1)
	t.unsentOpens.push(&oc.unsent)
	return uint64(fd), true
}

// maxUnsentOpens bounds task.unsentOpens: find's walk nests no deeper
// within a post delay.
const maxUnsentOpens = 8

// unsentOpens is a stack of the last opens a task posted (task.unsentOpens).
type unsentOpens struct {
	opens [maxUnsentOpens]*unsentOpen
	n     int
}

// push adds o, forgetting the oldest when full.
func (u *unsentOpens) push(o *unsentOpen) {
	if u.n == len(u.opens) {
		copy(u.opens[:], u.opens[1:])
		u.n--
	}
	u.opens[u.n] = o
	u.n++
}

// top is the newest (nil: none).
func (u *unsentOpens) top() *unsentOpen {
	if u.n == 0 {
		return nil
	}
	return u.opens[u.n-1]
}

// pop removes the newest (none left if it is not the open of fd in
// table: a close of another fd, the stack's older opens sent or closed
// otherwise) and returns it.
func (u *unsentOpens) pop(table uint64, fd int32) *unsentOpen {
	o := u.top()
	if o == nil || o.po.table != table || o.po.fd != fd {
		clear(u.opens[:u.n])
		u.n = 0
		return nil
	}
	u.n--
	u.opens[u.n] = nil
	return o
}

// postedOpenCall is a posted open's call, its in-flight record, the fd
// it installs and what takes it back, in one allocation (there were
// seven: TestUnpostedOpenClose counts a pair's).
type postedOpenCall struct {
	postedCall
	c      *client
	fd     int32
	unsent unsentOpen
}

// done settles the open with its reply (postOpen).
func (oc *postedOpenCall) done(r *pb.Reply) { oc.c.openDone(oc.unsent.po, r) }

// unsentOpen is a posted open and its call, which may not have been sent
// yet, and the posted getdents64 answered from a listing ahead that only
// moves the new description's cursor (dirahead.go answerAhead), if that
// call was posted right after it, or the posted lseeks of reads answered
// from its read lease that only move its offset (postOffset: tar's read
// of /etc/passwd for each member), if they were, and a posted F_SETFD of
// its fd (fdflags.go: rm's of each directory it opens to check).
type unsentOpen struct {
	call *pb.Call
	po   postedOpen
	// cloexec is the open's O_CLOEXEC; dup, a posted dup of its fd that
	// may move the open to the dup's fd (dupmove.go).
	cloexec bool
	dup     *unsentDup
	listing *pb.Call
	// listingAsks says listing asked for listings ahead: it is sent
	// with the close of the open's fd, never taken back (dirahead.go).
	listingAsks bool
	// seeks are the first nSeeks posted lseeks and F_SETFDs, in the
	// order posted; a read past them is posted as usual (the open is
	// then sent).
	seeks  [maxUnsentSeeks]unsentSeek
	nSeeks int
}

// maxUnsentSeeks bounds unsentOpen.seeks: a small file read whole through
// stdio takes one read or a few.
const maxUnsentSeeks = 4

// unsentSeek is a posted lseek of an unsent open's description and what
// settles it (postOffset's done) when it is taken back with the open.
type unsentSeek struct {
	call *pb.Call
	done func(*pb.Reply)
}

// seekTakeable reports whether a posted lseek of fd, whose description
// desc the read cache names, may be taken back with its open by the
// close: the open is t's newest unsent one, of that fd and description,
// and nothing but such lseeks was posted after it.
func (t *task) seekTakeable(desc uint64, fd int32) (*unsentOpen, bool) {
	o := t.unsentOpens.top()
	if o == nil || o.po.desc != desc || o.po.fd != fd || o.listing != nil || o.nSeeks == len(o.seeks) {
		return nil, false
	}
	return o, true
}

// unpostOpen takes back the posted open of fd in table, which the caller
// is closing (pipelineClose took the fd), if the open was not sent yet
// and nothing was posted after it but the posted getdents64 of its
// listing answered on the client (unsentOpen.listing) or the posted
// lseeks of its reads answered from its read lease (unsentOpen.seeks),
// and forgets its description: the open (the getdents64, the lseeks) and
// the close, answered under the open's lease, are then never sent, and
// changed nothing (as a close that runs right after its open: the cursor
// a getdents64 or an lseek moved is the closed description's alone, and
// the listing and the reads were answered under its leases). Not in a
// sandbox that made an inotify instance: a watch there would see the
// pair (IN_OPEN, IN_CLOSE_NOWRITE) or the listing (IN_ACCESS). An open
// whose fd a posted dup copied is moved to the dup's fd instead
// (moveOpenToDup): the close is not sent either.
func (t *task) unpostOpen(table uint64, fd int32) bool {
	o := t.unsentOpens.pop(table, fd)
	if o != nil && o.dup != nil {
		// Its fd was dupped: the open moves to the dup's fd
		// (dupmove.go), and no inotify watch sees a difference (no
		// event is an fd's).
		return t.moveOpenToDup(table, o)
	}
	if o == nil || t.c.inotifyUsed.Load() {
		return false
	}
	var calls [1 + maxUnsentSeeks]*pb.Call
	calls[0] = o.call
	n := 1
	if o.listing != nil {
		calls[n] = o.listing
		n++
	}
	for _, s := range o.seeks[:o.nSeeks] {
		calls[n] = s.call
		n++
	}
	// In the order posted, as the queue holds them: an F_SETFD may come
	// before the listing's call.
	slices.SortFunc(calls[:n], func(a, b *pb.Call) int { return cmp.Compare(a.Seq, b.Seq) })
	if !t.c.conn.Unpost(calls[:n]...) {
		return false
	}
	// The lseeks' offsets go with the description.
	for _, s := range o.seeks[:o.nSeeks] {
		s.done(nil)
	}
	t.c.openDone(o.po, nil)
	t.c.opens.unposted.Add(1)
	return true
}

// mayPostOpen says whether nothing this client has in flight may change
// the kept answer of an open of the file of gofer handle handle ("": a
// file without one), which arrived when seen creations had been sent:
// pathAnswerScope's all, except that writes behind (and leased copies)
// of other files with known handles, and attribute changes of regular
// files created after the answer arrived, may be without their reply. A
// write changes only its file's data, size and times: no walk, no
// directory, and not whether a file exists or may be read; the opened
// file's own writes are checked here, and its reads answered from the
// read lease are checked again by liveLocked. A chmod, chown or
// utimensat of a regular file created later changes only that file,
// which is not the answer's (readCache.attrsOnlyOfNewerLocked). (A
// shell's or tar's close of the file it wrote is posted, so the next
// open comes while that file's writes are in flight; tar's open of
// /etc/passwd for each member comes while the previous member's
// chown, chmod and utimensat are.)
func (t *task) mayPostOpen(handle string, seen uint64) bool {
	if t.c.files.pending() {
		return false
	}
	rc := t.c.rcache
	if rc == nil {
		return true
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.attrsOnlyOfNewerLocked(seen) || rc.dataPosted[""] != 0 {
		return false
	}
	return handle == "" || rc.dataPosted[handle] == 0
}

// reserveOpen sets the lowest free fd of pid's table, which no other
// process shares, to description desc with close-on-exec flag cloexec,
// if it is below limit, and marks it as changed by a posted call. It
// returns the table and the fd.
func (c *procIDCache) reserveOpen(pid int32, desc uint64, limit int32, cloexec bool) (uint64, int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	table, fd, ok := c.lowestFreeLocked(pid, limit)
	if !ok {
		return 0, 0, false
	}
	fds := c.openFDs[table]
	if fds == nil {
		if c.openFDs == nil {
			c.openFDs = make(map[uint64]map[int32]uint64)
		}
		fds = make(map[int32]uint64)
		c.openFDs[table] = fds
	}
	fds[fd] = desc
	c.setCloexecLocked(table, fd, cloexec)
	c.postedFD(table, fd, 1)
	return table, fd, true
}

// hasFreeFD reports whether pid's table, which no other process shares,
// surely has a free fd below limit: an open allocates its fd before it
// walks its path, so one that fails both ways fails EMFILE, not ENOENT.
func (c *procIDCache) hasFreeFD(pid int32, limit int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _, ok := c.lowestFreeLocked(pid, limit)
	return ok
}

// lowestFreeLocked returns pid's table, which no other process shares,
// and its lowest free fd, if one is below limit. c.mu is held.
func (c *procIDCache) lowestFreeLocked(pid int32, limit int32) (uint64, int32, bool) {
	ids, ok := c.byPID[pid]
	if !ok || ids.fdTable == 0 {
		return 0, 0, false
	}
	if c.tableSharedLocked(pid, ids.fdTable) {
		return 0, 0, false
	}
	fds := c.openFDs[ids.fdTable]
	fd := int32(0)
	for ; fd < limit; fd++ {
		if _, taken := fds[fd]; !taken {
			break
		}
	}
	if fd >= limit {
		return 0, 0, false // EMFILE: the server says so
	}
	return ids.fdTable, fd, true
}

// settleOpen replaces provisional description prov in table by real, the
// server's (opened false: the open failed, or was never sent: its fds are
// forgotten), once the posted open of fd has its reply.
func (c *procIDCache) settleOpen(table uint64, fd int32, prov, real uint64, opened bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.postedFD(table, fd, -1)
	fds := c.openFDs[table]
	for n, f := range fds {
		if f != prov {
			continue
		}
		if opened {
			fds[n] = real
		} else {
			delete(fds, n)
			c.setCloexecLocked(table, n, false)
		}
	}
}

// anyFileLease says whether a description of this client holds a file
// lease (F_SETLEASE).
func (ps *pipelineState) anyFileLease() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.leased > 0
}

// noteLease remembers which read lease a description of the file of l
// (by its token) was attached to, for posted opens of the file.
func (c *client) noteLease(l *pb.ReadLease) {
	if c.rcache == nil || l == nil || l.Id == 0 || l.File == 0 || l.Owned {
		return
	}
	po := &c.opens
	po.mu.Lock()
	token, ok := po.tokens[l.File]
	po.mu.Unlock()
	if !ok {
		token = l.File
	}
	rc := c.rcache
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.leaseOf == nil || len(rc.leaseOf) >= maxLeaseIndex {
		rc.leaseOf = make(map[uint64]uint64)
	}
	rc.leaseOf[token] = l.Id
}

// attachLeaseOf attaches description desc to the live read lease of the
// file of token token, if the client holds one.
func (c *client) attachLeaseOf(desc, token uint64) {
	rc := c.rcache
	if rc == nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if id := rc.leaseOf[token]; id != 0 && rc.files[id] != nil {
		rc.attachLocked(desc, id)
	}
}

// openDone settles posted open po with its reply (nil: it was never
// sent), on the receiving goroutine after the reply's records were
// folded. The read cache learns the server's description first: a
// thread that took the provisional one from the fd table just before
// the table changed finds the server's there (readCache.currentLocked).
func (c *client) openDone(po postedOpen, r *pb.Reply) {
	opened := r != nil && r.Errno == 0
	if opened && r.Ret != int64(po.fd) {
		// A bug, or a server that ignores install_fd: the application
		// was told another fd.
		c.log.Error("a posted open got another fd than the client told the application", "told", po.fd, "got", r.Ret)
	}
	var real uint64
	if opened {
		real = r.GetOpenedFile()
	}
	c.opens.setToken(real, po.desc, c.opens.tokenOf(po.desc))
	// A posted creation's owned lease is of the copy settleOpen moves
	// to real.
	owned := r.GetLease().GetOwned()
	if opened && real != 0 && r.Lease != nil && !owned {
		c.rcache.grant(r.Lease, po.stamp)
		c.noteLease(r.Lease)
	}
	c.rcache.settleOpen(po.desc, real)
	if opened && real != 0 && owned {
		c.rcache.grant(r.Lease, po.stamp)
	}
	c.pcache.settleOpen(po.desc, real)
	c.pipe.settleSetfl(po.desc, real) // before the fd names real
	c.ids.settleOpen(po.table, po.fd, po.desc, real, opened)
	ps := &c.pipe
	ps.mu.Lock()
	delete(ps.files, po.desc)
	delete(ps.born, po.desc)
	ps.mu.Unlock()
}

// movedDesc is where the posted lseeks of a provisional description
// (posted before its open's reply) are counted now, and how many are
// left.
type movedDesc struct {
	to   uint64
	left int
}

// maxProvisional bounds readCache.provisional: beyond it, the settled
// ids more than that many posted opens old are forgotten (a call that
// still held one then is forwarded).
const maxProvisional = 4096

// addProvisional registers the provisional id of a posted open's
// description.
func (rc *readCache) addProvisional(prov uint64) {
	if rc == nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.provisional == nil {
		rc.provisional = make(map[uint64]uint64)
	}
	if len(rc.provisional) >= maxProvisional {
		for p, real := range rc.provisional {
			if real != 0 && p+maxProvisional/2 < prov {
				delete(rc.provisional, p)
			}
		}
	}
	rc.provisional[prov] = 0
}

// currentLocked returns the description desc is now: the server's for
// a provisional one whose open's reply named it (a thread may have
// taken the provisional id from the fd table just before the reply
// replaced it). ok is false for one whose open failed, or forgotten: the
// call is forwarded. Precondition: rc.mu.
func (rc *readCache) currentLocked(desc uint64) (uint64, bool) {
	if desc&provisionalDesc == 0 {
		return desc, true
	}
	real, ok := rc.provisional[desc]
	switch {
	case !ok:
		return 0, false
	case real == 0:
		return desc, true
	}
	return real, true
}

// settleOpen moves the state of provisional description prov to real,
// the server's (0: the open failed): its lease attachment, a posted
// creation's owned copy (ownedfile.go), and its posted lseeks' count and
// offset.
func (rc *readCache) settleOpen(prov, real uint64) {
	if rc == nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.settleOwnedLocked(prov, real)
	if real == 0 {
		delete(rc.provisional, prov)
	} else if _, ok := rc.provisional[prov]; ok {
		rc.provisional[prov] = real
	}
	id, attached := rc.descs[prov]
	delete(rc.descs, prov)
	if _, has := rc.descs[real]; real != 0 && attached && !has && rc.files[id] != nil {
		rc.attachLocked(real, id)
	}
	n := rc.seekPosted[prov]
	if real == 0 || n == 0 {
		return
	}
	rc.seekPosted[real] += n
	rc.offsets[real] = rc.offsets[prov]
	delete(rc.seekPosted, prov)
	delete(rc.offsets, prov)
	if rc.moved == nil {
		rc.moved = make(map[uint64]movedDesc)
	}
	rc.moved[prov] = movedDesc{to: real, left: n}
}

// movedLocked returns the description a posted lseek of desc is counted
// under now (settleOpen), and counts it done there. Precondition: rc.mu.
func (rc *readCache) movedLocked(desc uint64) uint64 {
	m, ok := rc.moved[desc]
	if !ok {
		return desc
	}
	if m.left--; m.left <= 0 {
		delete(rc.moved, desc)
	} else {
		rc.moved[desc] = m
	}
	return m.to
}

// settleOpen moves what the cache holds of provisional description prov
// (the path it was opened by, its stat answer, its listing's end) to
// real, the server's (0: the open failed: forgotten).
func (pc *pathCache) settleOpen(prov, real uint64) {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	settleDesc(pc.openPaths, prov, real)
	settleDesc(pc.openedStats, prov, real)
	settleDesc(pc.listingEnds, prov, real)
	settleDesc(pc.aheadFresh, prov, real)
	settleDesc(pc.aheadSources, prov, real)
	settleDesc(pc.pathProofs, prov, real)
	settleDesc(pc.aheadListed, prov, real)
	pc.noteSettledLocked(prov, real)
}

// settleDesc moves m's entry of provisional description prov to real
// (0: it is forgotten). real is a new description: whatever m held for
// it is not its own, and goes even when prov had no entry.
func settleDesc[V any](m map[uint64]V, prov, real uint64) {
	v, ok := m[prov]
	delete(m, prov)
	if real == 0 {
		return
	}
	if ok {
		m[real] = v
	} else {
		delete(m, real)
	}
}

// listedOpen is the lstat answer a posted open was made from
// (statOpenAnswer): the file's attributes and the listing that brought
// the answer (nil: none), for leases ahead (dataahead.go).
type listedOpen struct {
	found bool
	st    linux.Stat
	lst   *listedDir
}

// statOpenAnswer returns what a read-only open of key k (openKeyOf's)
// opens, told by the kept lstat answer of the same path, start and
// credentials (a listing's, keepListed: cat's open of each name a
// shell's glob listed, find's open of each directory it lists): a
// regular file or a directory the caller may read (its mode and owner,
// the caller's fs ids, groups and capabilities: permits). The open
// walks the same path with the same credentials as that lstat, and
// does not follow its last name, which is no symbolic link; the
// answer's leases are those of the walk and of the file's attributes,
// which are what the server's lease of the open's own answer covers
// (pathlease.go's walkKeys), so while they hold the open succeeds and
// opens that file. Only while no posted change of a mode or owner of a
// file that may be the answer's is unanswered (modesFrom). No read
// lease is attached to
// the new description (its token is new), so its reads and fstat wait
// for the server, after the writes in flight.
func (t *task) statOpenAnswer(k pathKey) (kind uint64, lo listedOpen, ok bool) {
	from := t.modesFrom()
	ids, ok := t.ownIDs()
	if !ok {
		return 0, listedOpen{}, false
	}
	pc := t.c.pcache
	sk := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: k.creds, start: k.start, path: k.path,
		args: [3]uint64{unix.AT_SYMLINK_NOFOLLOW}}
	pc.mu.Lock()
	var searched *linux.Stat // the directory ".." is looked up in
	var st linux.Stat
	var lst *listedDir
	if parent, self, isParent := pc.parentStatKeysLocked(k, t.proc.pid); isParent {
		// fts's climb out of a directory (dirfdpaths.go): the
		// parent path's mode and owner, if the caller may search
		// the directory it climbs out of (its mode and owner too).
		selfSt, selfOK := pc.dirModeLocked(self, t.proc.pid, from)
		if !selfOK {
			pc.mu.Unlock()
			return 0, listedOpen{}, false
		}
		searched = &selfSt
		st, ok = pc.dirModeLocked(parent, t.proc.pid, from)
	} else {
		_, st, lst, ok = pc.keptStatLocked(sk, t.proc.pid, from)
	}
	dirfdPath := false
	if ok && st.Mode&linux.S_IFMT == linux.S_IFDIR && strings.HasPrefix(k.start, "fd ") {
		_, _, dirfdPath = pc.dirfdPathLocked(k, t.proc.pid)
	}
	pc.mu.Unlock()
	if !ok || lst != nil && lst.lookup && st.Mode&linux.S_IFMT == linux.S_IFREG {
		return 0, listedOpen{}, false // waited: see listedDir.lookup
	}
	// A directory only by a path its listing can name
	// (Syscall.listing_path): absolute or relative to the cwd (find's),
	// or derived from its dirfd's (fts's openat of each subdirectory it
	// lists: dirfdpaths.go). A listing by description of a provisional
	// one would be kept under an id no later call names.
	switch typ := st.Mode & linux.S_IFMT; {
	case typ == linux.S_IFREG && k.args[0]&unix.O_DIRECTORY == 0:
		kind = openedRegular
	case typ == linux.S_IFDIR && (!strings.HasPrefix(k.start, "fd ") || dirfdPath):
		kind = openedDir
	default:
		return 0, listedOpen{}, false // ENOTDIR, or a directory relative to a dirfd: the server says so
	}
	if !t.c.pipe.permits(t.proc.pid, ids.euid, ids.egid, st, sysabi.MayRead) ||
		searched != nil && !t.c.pipe.permits(t.proc.pid, ids.euid, ids.egid, *searched, sysabi.MayExec) {
		return 0, listedOpen{}, false
	}
	pc.mu.Lock()
	t.answeredLocked(pc)
	pc.mu.Unlock()
	t.cached = false // posted, not answered: --strace says so
	return kind, listedOpen{found: true, st: st, lst: lst}, true
}

// permits says whether process pid, of effective (fs) ids uid and gid,
// may access a file of attributes st as mask asks (sysabi.MayRead,
// MayExec), as the server's permission check decides (sysabi.Permits),
// if its record told its groups and capabilities.
func (ps *pipelineState) permits(pid int32, uid, gid uint32, st linux.Stat, mask uint32) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pp, ok := ps.procs[pid]
	if !ok || !pp.capsKnown {
		return false
	}
	return sysabi.Permits(sysabi.FileAttrs{Mode: st.Mode, UID: st.UID, GID: st.GID},
		sysabi.Creds{FSUID: uid, InGroup: gid == st.GID || pp.groups[st.GID], Caps: pp.capsEffective}, mask)
}
