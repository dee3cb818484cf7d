package client

import (
	"math"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Owned files (docs/ARCHITECTURE.md, "The client's read cache").
//
// An open with O_CREAT for writing (waited for) starts a copy of its
// file (startOwned): the file is empty if the open created it, and the
// server then holds a claim to an owned lease for the description (no
// message). A posted creation (postcreate.go), whose file is new and
// empty, starts its copy at the post, under the provisional description
// until the reply names the server's (settleOwnedLocked); it asks for
// the lease itself (Syscall.owned_wanted), and the server claims it
// then, before the writes behind posted after it. The client applies its writes
// through the description to the copy as it writes them behind, and
// posts them with Syscall.owned_write, which keeps the claim. The copy
// answers nothing until an owned ReadLease (ReadLease.owned) whose size
// is the copy's arrives: the open asks for it with Syscall.owned_wanted
// (ownedOpenWanted), and so does a later lseek or read once a lease
// lapsed. From then on read, pread64, readv, preadv and lseek of the
// description are answered from the copy; a read or lseek that moves
// the offset posts lseek(fd, offset, SEEK_SET), so the server's offset
// and the replay log stay exact. A lease that lapses leaves the copy,
// and the next lseek or read asks again. So a file written and closed,
// or read back, costs no message more than before (the lease rides on
// the open's reply). Any other change of the file (by anyone) and any
// open of it (this client's other descriptions too) void the claim and
// revoke the lease before the change or open is made or answered; the
// client also drops the copy before it forwards any call naming the
// description's fd (other than a stat, a sync, or an lseek or read of
// an fd no other table holds), at a close of one of its fds, when the
// copy would outgrow ownedFileLimit, when a write to it fails, and at a
// recovery.
// Answers need what the read cache's need (the description in no other
// fd table, no dirty shared mapping, and in a process of several threads
// no other thread's call in flight that could move the offset or change
// the fd: threadorder.go) and no unanswered posted change of the file
// other than the client's own owned writes. A process of several threads
// writes into the copy under the gate of its writes behind
// (writebehind.go), so that the copy's offset is where each write lands:
// the Go toolchain's compile and link, whose archive writer asks for its
// offset after each piece, are such processes.

// ownedFileLimit bounds one owned file's copy: a write past it drops the
// copy (the file's later reads and lseeks are forwarded).
const ownedFileLimit = 1 << 20

// maxOwnedFiles and ownedBytesLimit bound the copies kept: an open
// beyond the first starts none, a write that would grow the copies past
// the second drops its file's.
const (
	maxOwnedFiles   = 64
	ownedBytesLimit = 16 << 20
)

// ownedFile is the copy of a file a description created. Protected by
// readCache.mu.
type ownedFile struct {
	// lease is the owned lease's id (0: none granted, or lapsed);
	// expires its expiry (renewed as the read leases').
	lease   uint64
	expires time.Time
	// data is the file's content (its size is len(data)); offset the
	// description's offset.
	data   []byte
	offset int64
	// stat is the file's struct stat the creating open's lease carried
	// (ReadLease.stat), which answers fstat of the description until
	// its first write or the lease's end (ownedStatLocked); nil: none.
	stat []byte
}

// ownedOpenFlags are the open flags that start no copy: where a write
// lands or when it is durable is not the client's to answer (the server
// makes no claim for them).
const ownedOpenFlags = unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC | unix.O_PATH | unix.O_TMPFILE

// ownedOpen says whether open or openat (sysno, args) may create its
// file for writing with flags that let the client keep a copy.
func ownedOpen(sysno uintptr, args [6]uint64) bool {
	flags := args[1]
	switch sysno {
	case unix.SYS_OPEN:
	case unix.SYS_OPENAT:
		flags = args[2]
	default:
		return false
	}
	return flags&unix.O_CREAT != 0 && flags&unix.O_ACCMODE != unix.O_RDONLY && flags&ownedOpenFlags == 0
}

// ownedOpenWanted says whether the waited open or openat (sysno, args),
// which asks for leases, asks for the owned lease too
// (Syscall.owned_wanted): it may start a copy (startOwned). The server
// grants it in the open's reply if the open created the file, so the
// description's first lseek or read (BFD's of the file ld or as is
// writing) is answered here too, not sent to ask for it. A file written
// and closed costs the lease's few bytes in that reply, and no message.
func (t *task) ownedOpenWanted(sysno uintptr, args [6]uint64) bool {
	rc := t.c.rcache
	return rc != nil && ownedOpen(sysno, args) && rc.ownedCount.Load() < maxOwnedFiles
}

// startOwned starts the copy of the file a waited open or openat (sysno,
// args), which asked for leases, opened as t's fd, if it may have
// created it for writing: the server claims an owned lease for such a
// description if the open created the file, and grants it only then, in
// the open's reply l (sent at at: ownedOpenWanted) or in that of the
// description's first lseek or read.
func (t *task) startOwned(sysno uintptr, args [6]uint64, fd int32, l *pb.ReadLease, at leaseStamp) {
	rc := t.c.rcache
	if rc == nil || !ownedOpen(sysno, args) {
		return
	}
	if desc, ok := t.c.ids.soleFD(t.proc.pid, fd); ok {
		rc.startCopy(desc, l, at)
	}
}

// startCopy starts an empty copy of description desc's file, unless
// maxOwnedFiles are kept, and takes the owned lease l of it (nil: none)
// granted by a call sent at at.
func (rc *readCache) startCopy(desc uint64, l *pb.ReadLease, at leaseStamp) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.owned) >= maxOwnedFiles {
		return
	}
	if rc.owned == nil {
		rc.owned = make(map[uint64]*ownedFile)
	}
	rc.owned[desc] = &ownedFile{}
	rc.ownedCount.Store(int32(len(rc.owned)))
	if l != nil && l.Owned && l.Id != 0 && l.File == desc && at.gen == rc.gen {
		rc.grantOwnedLocked(l, at)
	}
}

// grantOwnedLocked takes owned lease l, granted by a call sent at at,
// for the copy of description l.File if the copy is the file (its size
// is the lease's). Precondition: rc.mu.
func (rc *readCache) grantOwnedLocked(l *pb.ReadLease, at leaseStamp) {
	o := rc.owned[l.File]
	if o == nil || l.Epoch < rc.lastEpoch || l.TtlMs == 0 || uint64(len(o.data)) != l.Size {
		return
	}
	o.lease, o.expires = l.Id, at.sent.Add(time.Duration(l.TtlMs)*time.Millisecond)
	if len(l.Stat) == (*linux.Stat)(nil).SizeBytes() {
		// A creating open's (its file's size is the lease's: nothing
		// was written since).
		o.stat = l.Stat
	}
	rc.grants.Add(1)
}

// ownedOfLocked returns the copy of description desc (nil: none): a
// posted creation's provisional description's is its server's once the
// reply named it (settleOwnedLocked), though a thread may have taken the
// provisional id from the fd table just before. Precondition: rc.mu.
func (rc *readCache) ownedOfLocked(desc uint64) *ownedFile {
	return rc.owned[rc.ownedKeyLocked(desc)]
}

// ownedKeyLocked returns the description the copy of desc is kept
// under: desc, or the server's description of a settled provisional
// one (readCache.currentLocked). Precondition: rc.mu.
func (rc *readCache) ownedKeyLocked(desc uint64) uint64 {
	if _, ok := rc.owned[desc]; ok {
		return desc
	}
	if cur, ok := rc.currentLocked(desc); ok {
		return cur
	}
	return desc
}

// settleOwnedLocked moves the copy of a posted creation's provisional
// description prov to real, the server's (0: the creation failed, the
// copy goes). Precondition: rc.mu.
func (rc *readCache) settleOwnedLocked(prov, real uint64) {
	o := rc.owned[prov]
	if o == nil {
		return
	}
	if _, taken := rc.owned[real]; real == 0 || taken {
		rc.dropOwnedLocked(prov)
		return
	}
	delete(rc.owned, prov)
	rc.owned[real] = o
}

// dropOwnedLocked forgets the copy of description desc (a provisional
// one's: its server's once settled). Precondition: rc.mu.
func (rc *readCache) dropOwnedLocked(desc uint64) {
	desc = rc.ownedKeyLocked(desc)
	if o, ok := rc.owned[desc]; ok {
		rc.ownedBytes -= len(o.data)
		delete(rc.owned, desc)
		rc.ownedCount.Store(int32(len(rc.owned)))
	}
}

// observeClosed forgets the copies and /proc contents (procdata.go) of
// the descriptions whose records recs delete (closed for good: no fd
// names them).
func (rc *readCache) observeClosed(recs []*pb.StateRecord) {
	if rc == nil || rc.ownedCount.Load() == 0 && rc.procCount.Load() == 0 {
		return
	}
	for _, rec := range recs {
		if !rec.Deleted {
			continue
		}
		if key, err := statekey.Parse(rec.GetKey()); err == nil && key.Kind == statekey.KindFile {
			rc.mu.Lock()
			rc.dropOwnedLocked(key.ID)
			rc.dropProcDataLocked(key.ID)
			rc.mu.Unlock()
		}
	}
}

// revokeOwnedLocked forgets the copies whose lease is among ids.
// Precondition: rc.mu.
func (rc *readCache) revokeOwnedLocked(ids []uint64) {
	if len(rc.owned) == 0 {
		return
	}
	for _, id := range ids {
		for desc, o := range rc.owned {
			if o.lease == id {
				rc.dropOwnedLocked(desc)
			}
		}
	}
}

// ownedLiveLocked returns the copy of description desc, a file of gofer
// handle handle, if it may answer now: its lease holds and no posted
// change of the file other than the client's own owned writes is
// without a reply. A lease that lapsed is forgotten (the copy stays for
// the next lseek to ask again). Precondition: rc.mu.
func (rc *readCache) ownedLiveLocked(desc uint64, handle string) *ownedFile {
	o := rc.ownedOfLocked(desc)
	if o == nil || o.lease == 0 {
		return nil
	}
	if rc.dataPostedAll > 0 && (handle == "" || rc.dataPosted[""] > 0 || rc.dataPosted[handle] > rc.ownedPosted[handle]) {
		return nil
	}
	if !rc.renewal.live(o.expires, time.Now()) {
		o.lease, o.stat = 0, nil
		return nil
	}
	return o
}

// ownedStatLocked returns the struct stat that answers fstat of
// description desc, a file of gofer handle handle, from its owned copy,
// if it may: the copy may answer (ownedLiveLocked), nothing was written
// through the description since its creating open's reply brought the
// stat (a write changes the size and times), and no posted attribute
// change or removal (of any file: which they are to is not known here)
// is without a reply. The owned lease stands for the rest: any other
// change of the file, or open of it, revokes it before it is made.
// Precondition: rc.mu.
func (rc *readCache) ownedStatLocked(desc uint64, handle string) []byte {
	o := rc.ownedLiveLocked(desc, handle)
	if o == nil || o.stat == nil || rc.attrsPosted != 0 || rc.removalsPosted != 0 || rc.ownedPosted[handle] != 0 {
		return nil
	}
	return o.stat
}

// ownedFstat answers an fstat of t's fd (buffer at addr) from the stat
// its owned copy keeps (ownedStatLocked), if it may.
func (t *task) ownedFstat(fd int32, addr uint64) bool {
	rc := t.c.rcache
	if rc == nil || rc.ownedCount.Load() == 0 {
		return false
	}
	desc, pf, ok := t.cachedFile(fd, false)
	if !ok {
		return false
	}
	rc.mu.Lock()
	st := rc.ownedStatLocked(desc, pf.handle) // immutable
	rc.mu.Unlock()
	if st == nil {
		return false
	}
	if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(addr), st, usermem.IOOpts{}); err != nil {
		return false // a fault: the server says what it makes of it
	}
	rc.hits.Add(1)
	t.cached = true
	return true
}

// dropOwnedFD drops the copy of t's fd's description, if it has one.
func (t *task) dropOwnedFD(fd int32) {
	rc := t.c.rcache
	if rc == nil || rc.ownedCount.Load() == 0 {
		return
	}
	desc, ok := t.c.ids.descriptionOf(t.proc.pid, fd)
	if !ok {
		return
	}
	rc.mu.Lock()
	rc.dropOwnedLocked(desc)
	rc.mu.Unlock()
}

// lockOwnedLive returns the copy of description desc, a file of gofer
// handle handle, if it may answer now (ownedLiveLocked), with rc.mu
// held; nil (rc.mu not held) if not.
func (rc *readCache) lockOwnedLive(desc uint64, handle string) *ownedFile {
	if rc == nil || rc.ownedCount.Load() == 0 {
		return nil
	}
	rc.mu.Lock()
	o := rc.ownedLiveLocked(desc, handle)
	if o == nil {
		rc.mu.Unlock()
	}
	return o
}

// maxOwnedScratch is the most a task keeps of the buffer ownedRead
// copies into: a 4 KiB read loop then allocates nothing (20,000 preads
// of a 4 KiB owned file: 29-33 µs a call with an allocation each, the
// garbage collector's work, against 9-13 µs from a read lease).
const maxOwnedScratch = 64 << 10

// ownedRead answers a read-family call of t's fd, description desc
// (cachedRead's: its file's record pf, the call's buffers iov of total
// bytes, at pos if positional) from its owned copy, if it may, and
// returns the count. Only a positional read may be of a description
// other fd tables hold (a write through one of them drops the copy
// before it is posted or forwarded).
func (t *task) ownedRead(desc uint64, pf pipeFile, fd int32, positional bool, pos int64, iov []iovec, total uint64) (uint64, bool) {
	rc := t.c.rcache
	o := rc.lockOwnedLive(desc, pf.handle)
	if o == nil {
		return 0, false
	}
	off := pos
	if !positional {
		off = o.offset
	}
	var data []byte
	if size := int64(len(o.data)); off < size {
		data = append(t.ownedScratch[:0], o.data[off:min(size, off+int64(total))]...)
		if cap(data) <= maxOwnedScratch {
			t.ownedScratch = data[:0]
		}
	}
	rc.mu.Unlock()
	if !t.copyOutVec(iov, data) {
		return 0, false
	}
	n := uint64(len(data))
	if !positional && n > 0 && !t.ownedSeek(desc, fd, off+int64(n)) {
		return 0, false
	}
	rc.hits.Add(1)
	t.cached = true
	return n, true
}

// copyOutVec copies data into the buffers iov, in order; a fault leaves
// the call to the server (EFAULT, or a short count, as it decides).
func (t *task) copyOutVec(iov []iovec, data []byte) bool {
	rest := data
	for _, v := range iov {
		if len(rest) == 0 {
			break
		}
		m := min(uint64(len(rest)), v.len)
		if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(v.base), rest[:m], usermem.IOOpts{}); err != nil {
			return false
		}
		rest = rest[m:]
	}
	return true
}

// ownedLseek answers lseek(fd, off, whence) (SEEK_SET, SEEK_CUR,
// SEEK_END) of t's fd, description desc (cachedLseek's: no other fd table
// holds it; its file's record pf), from its owned copy, if it may.
func (t *task) ownedLseek(desc uint64, pf pipeFile, fd int32, off int64, whence uint64) (uint64, bool) {
	rc := t.c.rcache
	o := rc.lockOwnedLive(desc, pf.handle)
	if o == nil {
		return 0, false
	}
	n, ok := seekFrom(whence, off, o.offset, func() (int64, bool) { return int64(len(o.data)), true })
	rc.mu.Unlock()
	if !ok {
		return 0, false
	}
	if !t.ownedSeek(desc, fd, n) {
		return 0, false
	}
	rc.hits.Add(1)
	t.cached = true
	return uint64(n), true
}

// ownedSeek moves description desc (t's fd) to off in its copy and, if
// that moves it, posts lseek(fd, off, SEEK_SET). If the post fails (a
// recovery runs), the copy is dropped.
func (t *task) ownedSeek(desc uint64, fd int32, off int64) bool {
	rc := t.c.rcache
	rc.mu.Lock()
	o := rc.ownedOfLocked(desc)
	if o == nil {
		rc.mu.Unlock()
		return false
	}
	if o.offset == off {
		rc.mu.Unlock()
		return true
	}
	o.offset = off
	rc.mu.Unlock()
	if !t.postOffset(desc, off, [6]uint64{uint64(fd), uint64(off), unix.SEEK_SET}) {
		rc.mu.Lock()
		rc.dropOwnedLocked(desc)
		rc.mu.Unlock()
		return false
	}
	return true
}

// ownedWrite applies a write behind of data (n bytes, at args[3] if
// positional) to the copy of description desc, if it has one, and
// reports whether it did: the write is then posted with
// Syscall.owned_write. A copy that may not take it (the description is
// in another fd table, it would outgrow ownedFileLimit) is dropped.
func (t *task) ownedWrite(desc uint64, fd int32, positional bool, args [6]uint64, data []byte) bool {
	rc := t.c.rcache
	if rc == nil || rc.ownedCount.Load() == 0 || !t.ownedSoleFD(fd) {
		return false
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.applyOwnedLocked(desc, positional, int64(args[3]), data)
}

// ownedSoleFD says whether no other fd table holds the description of
// t's fd, so that a change through it may go into its copy; if one does,
// the copy is dropped.
func (t *task) ownedSoleFD(fd int32) bool {
	if _, sole := t.c.ids.soleDescription(t.proc.pid, fd); !sole {
		t.dropOwnedFD(fd)
		return false
	}
	return true
}

// applyOwnedLocked applies a write of data (at pos if positional, else
// at the description's offset, which it moves) to the copy of
// description desc, if it has one, and reports whether it did; a copy
// that would grow past its bounds is dropped. Precondition: rc.mu.
func (rc *readCache) applyOwnedLocked(desc uint64, positional bool, pos int64, data []byte) bool {
	o := rc.ownedOfLocked(desc)
	if o == nil {
		return false
	}
	off := o.offset
	if positional {
		off = pos
	}
	end := off + int64(len(data))
	grow := max(0, end-int64(len(o.data)))
	if off < 0 || end > ownedFileLimit || rc.ownedBytes+int(grow) > ownedBytesLimit {
		rc.dropOwnedLocked(desc)
		return false
	}
	if grow > 0 {
		o.data = append(o.data, make([]byte, grow)...)
		rc.ownedBytes += int(grow)
	}
	copy(o.data[off:], data)
	o.stat = nil // its size and times are the write's now
	if !positional {
		o.offset = end
	}
	return true
}

// postOwnedWrite posts write behind wc (of description desc, a file of
// gofer handle handle and inode number ino) marked owned_write
// (postOwnedChange); a failed or short write (of wc.n, merges included:
// writemerge.go) drops the copy, and the reply ends it (wbCall.ended).
func (t *task) postOwnedWrite(desc uint64, wc *wbCall, handle string, ino uint64) bool {
	return t.postOwnedChange(desc, &wc.postedCall, handle, ino, func(r *pb.Reply) bool {
		applied := r != nil && r.Errno == 0 && uint64(r.Ret) == wc.n
		wc.ended(r)
		return applied
	})
}

// postOwnedChange posts pc, a change of description desc's file (of gofer
// handle handle and inode number ino) that its copy took, marked
// owned_write: it is counted as a posted change of the file that owned
// answers need not wait for. ended takes its reply (nil: it was not
// posted) and says whether the file changed as the copy did; if not,
// the copy is dropped.
func (t *task) postOwnedChange(desc uint64, pc *postedCall, handle string, ino uint64, ended func(*pb.Reply) bool) bool {
	rc := t.c.rcache
	pc.syscall().OwnedWrite = true
	rc.mu.Lock()
	if rc.ownedPosted == nil {
		rc.ownedPosted = make(map[string]int)
	}
	rc.ownedPosted[handle]++
	rc.mu.Unlock()
	end := func(r *pb.Reply) {
		applied := ended(r)
		rc.mu.Lock()
		if rc.ownedPosted[handle]--; rc.ownedPosted[handle] <= 0 {
			delete(rc.ownedPosted, handle)
		}
		if !applied {
			rc.dropOwnedLocked(desc)
		}
		rc.mu.Unlock()
	}
	if !t.postChange(pc, end, handle, ino, dataChange, t.c.pipe.bornOf(desc, handle)) {
		end(nil)
		return false
	}
	return true
}

// truncateBehind answers ftruncate(fd, length) of a description with an
// owned copy and posts it marked owned_write, if it may (a server with
// FeatureTruncateBehind, which keeps its failure as a write behind's):
// the go command writes each build cache entry so (a posted creation, a
// write behind, then a truncation to the size written), and a
// truncation waited for dropped the copy too. It may where a write
// behind to fd may (writeBehind: a regular file open for writing, no
// mapping of it, no RLIMIT_FSIZE, in a process of several threads while
// no other thread's call in flight names fd), length is at most
// ownedFileLimit, and the copy takes the new size: the file is one the
// description created and nothing else opened or changed while the
// claim holds, so the truncation's result is 0 but for a full disk or an
// I/O error, which the next fsync or close reports.
func (t *task) truncateBehind(args [6]uint64) bool {
	rc := t.c.rcache
	if rc == nil || rc.ownedCount.Load() == 0 || int64(args[1]) < 0 || args[1] > ownedFileLimit ||
		!t.c.conn.serverHas(pb.FeatureTruncateBehind) {
		return false
	}
	return t.inPostOrder(func(threaded bool) bool { return t.truncateBehindOf(args, threaded) })
}

// truncateBehindOf is truncateBehind once the threads allow it to look;
// threaded says the process has several (precondition: then
// t.proc.callOrder is held).
func (t *task) truncateBehindOf(args [6]uint64, threaded bool) bool {
	fd := int32(args[0])
	file, f, ok := t.wbTarget(fd)
	if !ok {
		return false
	}
	if threaded && !t.proc.othersAllowWriteLocked(fd, file) || !t.ownedSoleFD(fd) {
		return false
	}
	rc := t.c.rcache
	rc.mu.Lock()
	took := rc.truncateOwnedLocked(file, int64(args[1]))
	rc.mu.Unlock()
	if !took {
		return false
	}
	pc := newPostedCall(t.tid, unix.SYS_FTRUNCATE, args, nil)
	pc.syscall().AfterPosted = threaded
	// A write behind after it is not merged into one before it.
	t.lastWB = nil
	t.wbCount(file)
	return t.postOwnedChange(file, pc, f.handle, f.ino, func(r *pb.Reply) bool {
		t.wbEnd(file, nil, r)
		return r != nil && r.Errno == 0
	})
}

// truncateOwnedLocked gives the copy of description desc, if it has one,
// size length (cut, or grown with zeros; the offset stays) and reports
// whether it did; a copy that would outgrow its bounds is dropped.
// Precondition: rc.mu.
func (rc *readCache) truncateOwnedLocked(desc uint64, length int64) bool {
	o := rc.ownedOfLocked(desc)
	if o == nil {
		return false
	}
	size := int64(len(o.data))
	switch {
	case length > ownedFileLimit || length > size && rc.ownedBytes+int(length-size) > ownedBytesLimit:
		rc.dropOwnedLocked(desc)
		return false
	case length > size:
		o.data = append(o.data, make([]byte, length-size)...)
	default:
		o.data = o.data[:length]
	}
	rc.ownedBytes += int(length - size)
	o.stat = nil // its size and times are the truncation's now
	return true
}

// ownedKeeps are the calls on an owned file's fd that leave its copy
// true: they change neither its content nor its offset.
var ownedKeeps = map[uintptr]bool{
	unix.SYS_FSTAT: true, unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true,
	unix.SYS_FSYNC: true, unix.SYS_FDATASYNC: true, unix.SYS_SYNC_FILE_RANGE: true, unix.SYS_READAHEAD: true,
}

// ownedFDArgs are the arguments, besides the first, that calls take fds
// in (the first is taken as one in every call).
var ownedFDArgs = map[uintptr][]int{
	unix.SYS_SENDFILE: {1}, unix.SYS_COPY_FILE_RANGE: {2}, unix.SYS_SPLICE: {2}, unix.SYS_TEE: {1},
	unix.SYS_DUP2: {1}, unix.SYS_DUP3: {1}, unix.SYS_MMAP: {4},
}

// forEachNamedFD calls f with each fd call sysno(args) may name: its
// first argument and those ownedFDArgs lists, each that fits an int32
// (the descriptions whose copies and /proc contents a forward drops).
func forEachNamedFD(sysno uintptr, args [6]uint64, f func(fd int32)) {
	if args[0] <= math.MaxInt32 {
		f(int32(args[0]))
	}
	for _, i := range ownedFDArgs[sysno] {
		if args[i] <= math.MaxInt32 {
			f(int32(args[i]))
		}
	}
}

// dropOwnedBeforeForward drops the copies of the descriptions a call
// about to be forwarded names by fd (its first argument, and those
// ownedFDArgs lists): the server may move their offset or change their
// file in ways the copy does not follow. An lseek or a read-family call
// of an fd no other fd table holds keeps the copy (its reply tells where
// the offset went, ownedForwarded), and reports whether it asks for the
// owned lease (Syscall.owned_wanted): the copy has no live lease.
func (t *task) dropOwnedBeforeForward(sysno uintptr, args [6]uint64) (ownedWanted bool) {
	rc := t.c.rcache
	if rc == nil || rc.ownedCount.Load() == 0 || ownedKeeps[sysno] {
		return false
	}
	if sysno == unix.SYS_LSEEK || readCalls[sysno] {
		if desc, sole := t.c.ids.soleFD(t.proc.pid, int32(args[0])); sole {
			rc.mu.Lock()
			defer rc.mu.Unlock()
			o := rc.ownedOfLocked(desc)
			return o != nil && (o.lease == 0 || !rc.renewal.live(o.expires, time.Now()))
		}
	}
	forEachNamedFD(sysno, args, t.dropOwnedFD)
	return false
}

// ownedForwarded takes the reply r of a forwarded lseek or read-family
// call sysno of t's fd that kept its description's copy
// (dropOwnedBeforeForward): where it moved the offset.
func (t *task) ownedForwarded(sysno uintptr, fd int32, r *pb.Reply) {
	rc := t.c.rcache
	if rc == nil || rc.ownedCount.Load() == 0 || r.Errno != 0 || (sysno != unix.SYS_LSEEK && !readCalls[sysno]) {
		// A failed call leaves the offset.
		return
	}
	desc, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	o := rc.ownedOfLocked(desc)
	switch {
	case o == nil:
	case sysno == unix.SYS_LSEEK:
		o.offset = r.Ret
	case sysno == unix.SYS_READ || sysno == unix.SYS_READV:
		o.offset += r.Ret
	}
}

// descriptionOf returns the description of pid's fd, if pid's fd table
// has it open (shared or not).
func (c *procIDCache) descriptionOf(pid, fd int32) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, file, ok := c.fileLocked(pid, fd)
	return file, ok
}
