package client

import (
	"encoding/binary"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	gvcontext "gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Write-behind and posted umask (docs/COMPATIBILITY.md, "Pipelined
// calls").
//
// A call whose result the client knows is sent with Post and marked
// Syscall.posted; the application gets the result at once. The server
// applies a session's calls in order (a thread's on its worker; a call
// another thread waits on only after the posted calls sent before it),
// so every later call sees the effect, and the call stays in flight
// until its reply, so a recovery re-sends it with its seq (the seq guard
// and the gofer's reply cache apply it once).
//
//   - umask(mask) returns the umask of the caller's fs context, which the
//     client knows from its "fs/<id>" record, and sets the new one here
//     and on the server. A umask cannot fail.
//   - write(fd, buf, n), pwrite64, writev and pwritev of n > 0 bytes
//     (all readable, at most sysabi.MaxBuffer) to an fd whose
//     description is a regular gofer file (FileState.regular) open for
//     writing (O_APPEND too) without O_SYNC, O_DSYNC or O_DIRECT, that no
//     mapping of this client maps (its handle is in no "map/<id>"
//     record: a mapped file's pages must follow the write before the
//     application sees it), by a process without RLIMIT_FSIZE (the
//     server would send SIGXFSZ): it returns n. The server keeps the
//     error of such a write that fails (ENOSPC, EDQUOT, EIO...) on the
//     description and the next fsync, fdatasync, write or waited close
//     of it returns it; a close of a description whose write behind is
//     known to have failed waits, to return that error. One with writes
//     behind only in flight is posted: the server keeps their error on
//     the file for its next fsync (sentry/server/wberr).
//
// Like a pipelined close, only a process with one thread whose fd table
// and fs context no other process shares posts: another thread's call
// could otherwise change the fd or umask between the client's check and
// the server's execution.

// pipelineState is what the client knows about the records that decide
// whether a call may be posted ("proc/", "fs/", "file/" and "map/"
// records, statekey.KindProc, KindFS, KindFile, KindMapped). mu is a leaf lock (taken by the
// receiving goroutine).
type pipelineState struct {
	mu sync.Mutex
	// procs are the live processes' fs contexts and limits ("proc/"
	// records). Protected by mu.
	procs map[int32]pipeProc
	// umask is each fs context's umask ("fs/" records, or set here by a
	// posted umask); umaskPosted counts an fs context's posted umasks
	// without a reply, while which the records' (older) values are
	// ignored. Protected by mu.
	umask       map[uint64]uint32
	umaskPosted map[uint64]int
	// umaskDone is each fs context's callback of its posted umasks'
	// replies (umaskDoneLocked), made once. Protected by mu.
	umaskDone map[uint64]func(*pb.Reply)
	// files are the open file descriptions ("file/" records). Protected
	// by mu.
	files map[uint64]pipeFile
	// mapped are the files this client maps, by mapped file id ("map/"
	// records); mappedSeq numbers the mapped file ids as they appear.
	// Protected by mu.
	mapped    map[uint64]mappedFile
	mappedSeq uint64
	// wbInFlight counts a description's writes behind without a reply;
	// wbFailed marks a description whose write behind failed and whose
	// error the server keeps. Protected by mu.
	wbInFlight map[uint64]int
	wbFailed   map[uint64]bool
	// createdHandles are the handles the descriptions of posted
	// creations whose records name no gofer handle (a file of do's
	// overlay) are known by: the creation's own (createdHandleOf), so
	// that their writes are still written behind after the creation's
	// reply (postcreate.go). createdAt is, by such a handle, when the
	// creation was posted. Protected by mu.
	createdHandles map[uint64]string
	createdAt      map[string]creationMark
	// born is, by description, the number of the creation
	// (readCache.creationSent) that made the description's file: a
	// posted creation's (its provisional description, then the
	// server's) or a waited open with O_CREAT|O_EXCL (metaPipeline).
	// Its file is none of those the answers that arrived before then
	// are about, so a posted change of it holds none of them back
	// (answerScope.changedFrom; cp's lstat of each source name while
	// the previous copy is written behind). Dropped with the
	// description's record. Protected by mu.
	born map[uint64]uint64
	// leased counts the descriptions that hold a file lease (F_SETLEASE,
	// FileState.has_lease): no open is posted meanwhile (postopen.go).
	// Protected by mu.
	leased int
	// setflPosted counts a description's posted F_SETFL calls without a
	// reply (postsetfl.go), while which its records' (older) flags are
	// ignored. Protected by mu.
	setflPosted map[uint64]int
	// settled is, by provisional description of a posted open or
	// creation, the server's description its reply named (0: the open
	// failed), from settleSetfl on: a thread that took the provisional
	// id from the fd table just before the table changed acts on the
	// server's (currentLocked), and a posted F_SETFL counted under the
	// provisional one is done under the server's. The oldest are
	// forgotten beyond maxProvisional. Protected by mu.
	settled map[uint64]uint64
	// pipeNoReader are the pipes whose record says no description
	// reads them (PipeState.no_reader): no write to them is posted
	// (pipebehind.go). Protected by mu.
	pipeNoReader map[uint64]bool
}

// pipeProc is what a process's record says for pipelining.
type pipeProc struct {
	fs           uint64
	fsizeLimited bool
	// nofile is the fd table's RLIMIT_NOFILE (0: none set).
	nofile uint32
	// fdRoom, when not 0, bounds new fds below nofile too (fs/nr_open
	// lowered: ProcessState.fd_room).
	fdRoom uint32
	// capsKnown says the record had the capability sets; capsEffective
	// and capsPermitted are the effective and permitted sets. groups are
	// the supplementary groups.
	capsKnown     bool
	capsEffective uint64
	capsPermitted uint64
	groups        map[uint32]bool
}

// pipeFile is what a description's record says for pipelining.
type pipeFile struct {
	regular bool
	// streamOut says the description is a pipe's write end or the
	// client's stdio: a sendfile to it that finds its in file's end
	// returns 0 without writing (sendfile.go).
	streamOut bool
	// stdio says the description is stream stdioStream (0-2) of stdio
	// set stdioSet (FileState_STDIO; filekind.go).
	stdio       bool
	stdioStream int32
	stdioSet    uint32
	flags       uint32
	handle      string
	// ino is the file's inode number as its record names it
	// (FileState.ino), or as the lease ahead a posted open attached it
	// to does (ReadLease.ino); 0: not known. A posted write to the file
	// counts under it (readCache.dataPostedIno).
	ino uint64
	// offset is the description's offset as its record says (the read
	// cache's, readcache.go).
	offset int64
	// leased says the description holds a file lease (F_SETLEASE).
	leased bool
	// pipeWrite and pipeRead say the description is a pipe's (or
	// FIFO's) write end or read end (a FIFO opened O_RDWR too), of
	// pipe pipe (PipeState.id; pipebehind.go).
	pipeWrite, pipeRead bool
	pipe                uint64
	// devNull says the description is the sentry's /dev/null
	// (FileState.dev_null): its reads and writes are answered here
	// (devnull.go).
	devNull bool
	// gofer says the description is a gofer file's (FileState GOFER:
	// a regular file or a directory), whose close does nothing but
	// what the client knows of (its locks: dropDup).
	gofer bool
}

// inoKeyPrefix starts the handle a file without a gofer handle (do's
// overlay) is known by: its inode number (FileState.ino). No gofer handle
// starts with a NUL.
const inoKeyPrefix = "\x00ino "

// fileKey is the handle the client knows a gofer file by: its gofer file
// handle fh, else its inode number ino, else "" (not known). The handles
// of one file are equal, which keeps the read cache, writes behind and
// mappings apart by file; two files of one inode number in different
// file systems share a key, which only holds back more than it must.
func fileKey(fh []byte, ino uint64) string {
	switch {
	case len(fh) > 0:
		return string(fh)
	case ino != 0:
		return inoKeyPrefix + strconv.FormatUint(ino, 16)
	}
	return ""
}

// isInoKey says whether handle is an inode number's (fileKey): a mapping
// without a handle (an older server's record) may be of its file.
func isInoKey(handle string) bool { return strings.HasPrefix(handle, inoKeyPrefix) }

// mappedFile is a mapped file's gofer handle ("": none) and its number
// (pipelineState.mappedSeq).
type mappedFile struct {
	handle string
	seq    uint64
}

// creationMark is when a posted creation was posted.
type creationMark struct {
	// mappedSeq is pipelineState.mappedSeq then: a mapped file without
	// a gofer handle that appeared before is not the created file.
	mappedSeq uint64
	// born is the creation's number (readCache.creationSent): the
	// file is none of those the leases that arrived before know.
	born uint64
}

// fileOf returns the records' view of description desc, if known.
func (ps *pipelineState) fileOf(desc uint64) (pipeFile, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	desc, ok := ps.currentLocked(desc)
	if !ok {
		return pipeFile{}, false
	}
	f, known := ps.files[desc]
	return f, known
}

// currentLocked returns the description desc is now: the server's for a
// provisional one whose open's reply named it (settled); ok is false if
// that open failed. Precondition: ps.mu.
func (ps *pipelineState) currentLocked(desc uint64) (uint64, bool) {
	if desc&provisionalDesc == 0 {
		return desc, true
	}
	if real, ok := ps.settled[desc]; ok {
		return real, real != 0
	}
	return desc, true
}

// bornOf returns the number of the creation that made the file of
// description desc (pipelineState.born), else that of the posted
// creation whose handle is handle (createdHandleOf) while its
// description is open; 0: not known. A data change's poster passes it
// to postBegin.
func (ps *pipelineState) bornOf(desc uint64, handle string) uint64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if born := ps.born[desc]; born != 0 {
		return born
	}
	return ps.createdAt[handle].born
}

// maxBorn bounds pipelineState.born: beyond it, the descriptions
// without a record are forgotten.
const maxBorn = 1024

// noteBorn is noteBornLocked.
func (ps *pipelineState) noteBorn(desc, born uint64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.noteBornLocked(desc, born)
}

// noteBornLocked notes that creation number born made the file of open
// description desc (pipelineState.born). Precondition: ps.mu.
func (ps *pipelineState) noteBornLocked(desc, born uint64) {
	if born == 0 {
		return
	}
	if ps.born == nil {
		ps.born = make(map[uint64]uint64)
	}
	if len(ps.born) >= maxBorn {
		// Those whose record was deleted before they were noted.
		for d := range ps.born {
			if _, open := ps.files[d]; !open {
				delete(ps.born, d)
			}
		}
	}
	ps.born[desc] = born
}

// mayBeMappedLocked says whether the file the client knows by handle
// (fileKey) may be mapped. Precondition: ps.mu.
func (ps *pipelineState) mayBeMappedLocked(handle string) bool {
	for _, m := range ps.mapped {
		if m.handle == handle || (m.handle == "" && (isInoKey(handle) || ps.mayBeCreatedLocked(handle, m))) {
			return true
		}
	}
	return false
}

// mayBeCreatedLocked says whether mapped file m, without a gofer handle,
// may be the file of the posted creation whose handle is handle: it
// appeared after the creation was posted (or that is not known).
// Precondition: ps.mu.
func (ps *pipelineState) mayBeCreatedLocked(handle string, m mappedFile) bool {
	if !strings.HasPrefix(handle, createdHandlePrefix) {
		return false
	}
	at, ok := ps.createdAt[handle]
	return !ok || m.seq > at.mappedSeq
}

// observeWritten folds the offset a write behind's packed reply
// (Reply.written) says it left its description at; the description's
// record follows in the same frame.
func (ps *pipelineState) observeWritten(w *pb.PostedWrite) {
	if w == nil || w.MovedTo < 0 {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if f, ok := ps.files[w.File]; ok {
		f.offset = w.MovedTo
		ps.files[w.File] = f
	}
}

// observe folds the records among recs that pipelining reads.
func (ps *pipelineState) observe(recs []*pb.StateRecord) {
	for _, rec := range recs {
		key, err := statekey.Parse(rec.GetKey())
		if err != nil {
			// The replay log reports it (replaylog.Log).
			continue
		}
		switch key.Kind {
		case statekey.KindProc, statekey.KindFS, statekey.KindFile, statekey.KindMapped, statekey.KindPipe:
		default:
			continue
		}
		id := key.ID
		ps.mu.Lock()
		switch key.Kind {
		case statekey.KindProc:
			if st := rec.GetProcess(); !rec.Deleted && st != nil && !st.Zombie {
				if ps.procs == nil {
					ps.procs = make(map[int32]pipeProc)
				}
				pp := pipeProc{fs: st.Fs, fsizeLimited: st.FsizeLimited, nofile: st.Nofile, fdRoom: st.FdRoom}
				if c := st.GetCaps(); c != nil {
					pp.capsKnown, pp.capsEffective, pp.capsPermitted = true, c.Effective, c.Permitted
				}
				if len(st.Groups) > 0 {
					pp.groups = make(map[uint32]bool, len(st.Groups))
					for _, g := range st.Groups {
						pp.groups[g] = true
					}
				}
				ps.procs[key.PID()] = pp
			} else {
				delete(ps.procs, key.PID())
			}
		case statekey.KindFS:
			if st := rec.GetFs(); !rec.Deleted && st != nil {
				if ps.umaskPosted[id] == 0 {
					if ps.umask == nil {
						ps.umask = make(map[uint64]uint32)
					}
					ps.umask[id] = st.Umask
				}
			} else {
				delete(ps.umask, id)
				delete(ps.umaskDone, id)
			}
		case statekey.KindFile:
			if st := rec.GetFile(); !rec.Deleted && st != nil {
				if ps.files == nil {
					ps.files = make(map[uint64]pipeFile)
				}
				if ps.files[id].leased {
					ps.leased--
				}
				handle := fileKey(st.FileHandle, st.Ino)
				if handle == "" {
					handle = ps.createdHandles[id]
				}
				f := pipeFile{
					regular:   st.Kind == pb.FileState_GOFER && st.Regular && st.Memfd == nil,
					streamOut: st.Kind == pb.FileState_PIPE_WRITE || st.Kind == pb.FileState_STDIO,
					flags:     st.Flags, handle: handle, offset: st.Offset, leased: st.HasLease,
					devNull: st.Kind == pb.FileState_SYNTHETIC && st.DevNull,
					gofer:   st.Kind == pb.FileState_GOFER,
				}
				if f.regular {
					f.ino = st.Ino
				}
				if prev, ok := ps.files[id]; ok && ps.setflPosted[id] > 0 {
					f.flags = prev.flags // set by a posted F_SETFL
				}
				if st.Kind == pb.FileState_STDIO {
					f.stdio, f.stdioStream, f.stdioSet = true, st.StdioStream, st.StdioSet
				}
				switch st.Kind {
				case pb.FileState_PIPE_WRITE:
					f.pipeWrite, f.pipe = true, st.Pipe
				case pb.FileState_PIPE_READ:
					f.pipeRead, f.pipe = true, st.Pipe
				}
				ps.files[id] = f
				if st.HasLease {
					ps.leased++
				}
			} else {
				if ps.files[id].leased {
					ps.leased--
				}
				delete(ps.files, id)
				delete(ps.wbFailed, id)
				delete(ps.born, id)
				if h, ok := ps.createdHandles[id]; ok {
					delete(ps.createdHandles, id)
					delete(ps.createdAt, h)
				}
			}
		case statekey.KindMapped:
			if st := rec.GetMapped(); !rec.Deleted && st != nil {
				if ps.mapped == nil {
					ps.mapped = make(map[uint64]mappedFile)
				}
				m, seen := ps.mapped[id]
				if !seen {
					ps.mappedSeq++
					m.seq = ps.mappedSeq
				}
				m.handle = fileKey(st.FileHandle, st.Ino)
				ps.mapped[id] = m
			} else {
				delete(ps.mapped, id)
			}
		case statekey.KindPipe:
			ps.observePipeLocked(id, rec)
		}
		ps.mu.Unlock()
	}
}

// soleFD returns the description of pid's fd, if pid's fd table has fd
// open and no other live process shares the table.
func (c *procIDCache) soleFD(pid, fd int32) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, file, ok := c.soleFDLocked(pid, fd)
	return file, ok
}

// soleFDLocked is soleFD with pid's fd table. Precondition: c.mu is held.
func (c *procIDCache) soleFDLocked(pid, fd int32) (table, file uint64, ok bool) {
	table, file, ok = c.fileLocked(pid, fd)
	if !ok || c.tableSharedLocked(pid, table) {
		return 0, 0, false
	}
	return table, file, true
}

// singleThreaded reports whether t's process has one thread.
func (t *task) singleThreaded() bool {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	return len(t.proc.threads) == 1
}

// post sends the system call without waiting for its reply (see above);
// done, if not nil, gets the reply. It reports false when the session
// cannot post now (a recovery runs): the caller then waits as usual.
func (t *task) post(sysno uintptr, args [6]uint64, inputs []sysabi.Region, done func(*pb.Reply)) bool {
	return t.postTo(sysno, args, inputs, done, "")
}

// postTo is post for a call to the file of gofer handle handle ("": not
// known, or no file), which the read cache then does not answer from
// until the reply.
func (t *task) postTo(sysno uintptr, args [6]uint64, inputs []sysabi.Region, done func(*pb.Reply), handle string) bool {
	return t.postChange(newPostedCall(t.tid, sysno, args, inputs), done, handle, 0, changesFile[sysno], 0)
}

// postSyscall is postTo for a call already built (marked posted here), to
// a file of inode number ino (0: not known) too.
func (t *task) postSyscall(sc *pb.Syscall, done func(*pb.Reply), handle string, ino, born uint64) bool {
	return t.postChange(newPostedCallOf(t.tid, sc), done, handle, ino, changesFile[uintptr(sc.Sysno)], born)
}

// postChange posts pc, a call that may make change ch to its file (of
// gofer handle handle and inode number ino, each unset if not known; of
// creation number born, 0 if not known: postBegin, pipelineState.bornOf).
func (t *task) postChange(pc *postedCall, done func(*pb.Reply), handle string, ino uint64, ch fileChange, born uint64) bool {
	if ch := t.c.rcache.postBegin(ch, handle, ino, born); ch.change != noChange {
		// The read cache does not answer what it may change until
		// its reply, before which the server revokes the leases of
		// what it changed.
		inner := done
		done = func(r *pb.Reply) {
			t.c.rcache.postEnd(ch)
			if inner != nil {
				inner(r)
			}
		}
		if !t.c.conn.PostCall(pc, done) {
			t.c.rcache.postEnd(ch)
			return false
		}
		t.posted = true
		return true
	}
	if !t.c.conn.PostCall(pc, done) {
		return false
	}
	t.posted = true
	return true
}

// pipelineUmask answers umask(mask) and posts it, if it may.
func (t *task) pipelineUmask(args [6]uint64) (uint64, bool) {
	if !t.singleThreaded() {
		return 0, false
	}
	ps := &t.c.pipe
	ps.mu.Lock()
	pp, ok := ps.procs[t.proc.pid]
	old, known := ps.umask[pp.fs]
	if !ok || !known || pp.fs == 0 {
		ps.mu.Unlock()
		return 0, false
	}
	for pid, o := range ps.procs {
		if pid != t.proc.pid && o.fs == pp.fs {
			ps.mu.Unlock()
			return 0, false
		}
	}
	ps.umask[pp.fs] = uint32(args[0]) & 0o777
	if ps.umaskPosted == nil {
		ps.umaskPosted = make(map[uint64]int)
	}
	ps.umaskPosted[pp.fs]++
	fs := pp.fs
	done := ps.umaskDoneLocked(fs)
	ps.mu.Unlock()
	if t.takeBackUmask(fs, uint32(args[0])&0o777, done) {
		return uint64(old), true
	}
	pc := newPostedCall(t.tid, unix.SYS_UMASK, args, nil).replyCanWait()
	if !t.c.conn.PostCallTakeBack(pc, done) {
		ps.mu.Lock()
		ps.umask[fs] = old
		ps.mu.Unlock()
		done(nil) // takes ps.mu itself
		return 0, false
	}
	t.posted = true
	t.unsentUmask = unsentUmask{call: &pc.call, fs: fs, before: old, set: uint32(args[0]) & 0o777}
	return uint64(old), true
}

// umaskDoneLocked returns the callback of fs context fs's posted umasks'
// replies: it counts one fewer without a reply. One per fs context, so
// that a posted umask allocates none. Precondition: ps.mu is held.
func (ps *pipelineState) umaskDoneLocked(fs uint64) func(*pb.Reply) {
	if done := ps.umaskDone[fs]; done != nil {
		return done
	}
	done := func(*pb.Reply) {
		ps.mu.Lock()
		if ps.umaskPosted[fs]--; ps.umaskPosted[fs] <= 0 {
			delete(ps.umaskPosted, fs)
		}
		ps.mu.Unlock()
	}
	if ps.umaskDone == nil {
		ps.umaskDone = make(map[uint64]func(*pb.Reply))
	}
	ps.umaskDone[fs] = done
	return done
}

// reportsWriteError are the calls whose reply returns a description's
// kept write-behind error (the server's rule, sentry/server/posted.go).
var reportsWriteError = map[uintptr]bool{
	unix.SYS_WRITE: true, unix.SYS_PWRITE64: true, unix.SYS_WRITEV: true, unix.SYS_PWRITEV: true, unix.SYS_PWRITEV2: true,
	unix.SYS_FSYNC: true, unix.SYS_FDATASYNC: true, unix.SYS_CLOSE: true,
}

// reportsWriteErrorCall says call sysno(args) returns a description's
// kept write-behind error: reportsWriteError's calls, and a
// sync_file_range that waits for a write-out, as fdatasync (sysabi's
// rule, the server's too).
func reportsWriteErrorCall(sysno uintptr, args [6]uint64) bool {
	if sysno == unix.SYS_SYNC_FILE_RANGE {
		return sysabi.SyncFileRangeReportsWriteError(args)
	}
	return reportsWriteError[sysno]
}

// wbOpenFlags are the status flags that make a write wait: its
// durability (O_SYNC, O_DSYNC, O_DIRECT) is the point of the call. An
// O_APPEND write is posted: where it lands (the file's end when the
// server applies it, which the gofer tells) is not its result, and a
// re-sent one is answered by the gofer's reply cache.
const wbOpenFlags = unix.O_SYNC | unix.O_DSYNC | unix.O_DIRECT

// writeBehind posts write(2), pwrite64(2), writev(2) or pwritev(2), if
// it may, and returns its count. A process with several threads posts
// one while every other thread's call in flight is neutral, names
// another fd and moves no offset of the description, marked to run after
// the posted calls before it (threadorder.go), unmerged.
func (t *task) writeBehind(sysno uintptr, args [6]uint64) (uint64, bool) {
	positional := sysno == unix.SYS_PWRITE64 || sysno == unix.SYS_PWRITEV
	if positional && int64(args[3]) < 0 {
		return 0, false
	}
	var n uint64
	posted := t.inPostOrder(func(threaded bool) bool {
		var ok bool
		n, ok = t.writeBehindOf(sysno, args, positional, threaded)
		return ok
	})
	return n, posted
}

// writeBehindOf is writeBehind once the threads allow it to look;
// threaded says the process has several (precondition: then
// t.proc.callOrder is held).
func (t *task) writeBehindOf(sysno uintptr, args [6]uint64, positional, threaded bool) (uint64, bool) {
	fd := int32(args[0])
	file, f, ok := t.wbTarget(fd)
	if !ok {
		return 0, false
	}
	if threaded && !t.proc.othersAllowWriteLocked(fd, file) {
		// Another thread's call in flight could run first. The gate
		// also keeps an owned copy's offset exact (ownedfile.go): no
		// other thread's call moves it before this write lands where
		// the copy puts it.
		return 0, false
	}
	var mem sysabi.AppMemory = appMemory{t}
	if sysno == unix.SYS_WRITE || sysno == unix.SYS_PWRITE64 {
		// One input, the data: read into a buffer the replay log
		// reuses once the write is durable (replaylog/writepool.go).
		t.writeMem = writeMemory{appMemory: appMemory{t}, rl: t.c.rl}
		mem = &t.writeMem
	}
	// The regions are copied into the call (postedCall.set) before
	// the task's next call reuses the buffer.
	inputs := sysabi.AppendInputs(t.wbInputs[:0], sysno, args, mem)
	n, ok := writeCount(sysno, args, inputs)
	if !ok || n == 0 {
		return 0, false
	}
	// Applied to the owned file's copy (ownedfile.go) whether the
	// write is merged or posted.
	data := writtenData(sysno, inputs)
	owned := t.ownedWrite(file, int32(args[0]), positional, args, data)
	if !t.sendWriteBehind(file, f.handle, f.ino, sysno, args, inputs, data, n, owned, mem == &t.writeMem && t.writeMem.pooled, threaded) {
		return 0, false
	}
	return n, true
}

// sendWriteBehind appends write behind sysno (args, inputs: n bytes to
// description file, of gofer handle handle and inode number ino; data
// its bytes, writtenData's) to t's previous one, if it may
// (writemerge.go), else posts it, and reports whether it did either;
// owned says the owned copy took its bytes, pooled that its only input
// is a buffer of the replay log's pool that only it holds; threaded that
// the process has several threads: the write is marked after_posted and
// neither merged nor kept to merge the next into (another thread's
// posted call may come between).
func (t *task) sendWriteBehind(file uint64, handle string, ino uint64, sysno uintptr, args [6]uint64, inputs []sysabi.Region, data []byte, n uint64, owned, pooled, threaded bool) bool {
	single := (sysno == unix.SYS_WRITE || sysno == unix.SYS_PWRITE64) && len(inputs) == 1 && !threaded
	if single && t.mergeWrite(file, sysno, args, data, owned) {
		// Appended to the queued write before it, which copied the
		// bytes.
		if pooled {
			t.c.rl.PutWriteBuffer(data)
		}
		return true
	}
	wc := &wbCall{t: t, file: file, data: data, n: n}
	wc.set(t.tid, sysno, args, inputs)
	wc.syscall().AfterPosted = threaded
	wc.pooledData = pooled
	t.wbCount(file)
	t.lastWB = nil
	if owned {
		if !t.postOwnedWrite(file, wc, handle, ino) {
			return false
		}
	} else {
		wc.replyCanWait()
		if !t.postWrite(wc, handle, ino, changesFile[sysno]) {
			wc.ended(nil)
			return false
		}
	}
	if single {
		t.lastWB = wc
	}
	return true
}

// wbCall is a write behind's posted call with what its reply ends (the
// write counted in flight, wbCount, and the read cache's posting of its
// change, postBegin), in one allocation: posting it makes no closure.
type wbCall struct {
	postedCall
	t *task
	// file is the write's description. Immutable.
	file uint64
	// data is the write's bytes and n the count the application was
	// told; a merge (writemerge.go) appends to them while the call is
	// queued, under the transport's send lock, and nothing changes them
	// once it is sent.
	data []byte
	n    uint64
	// appending is the bytes a merge appends (Merge), set by the task
	// goroutine around MergePosted.
	appending []byte
	// posting is the read cache's count of the change, ended by the
	// reply. Set before the call is posted, immutable after.
	posting posting
}

// postedEnd implements postedEnd: the write's reply (on the receiving
// goroutine) ends its change of the file's cached state, then its count.
func (wc *wbCall) postedEnd(r *pb.Reply) {
	wc.t.c.rcache.postEnd(wc.posting)
	wc.ended(r)
}

// ended ends the write's count in flight with its reply (nil: it was not
// posted).
func (wc *wbCall) ended(r *pb.Reply) { wc.t.wbEnd(wc.file, wc.data, r) }

// postWrite posts wc, a write behind that makes change ch to the file of
// handle handle and inode number ino (postChange, for a wbCall).
func (t *task) postWrite(wc *wbCall, handle string, ino uint64, ch fileChange) bool {
	wc.posting = t.c.rcache.postBegin(ch, handle, ino, t.c.pipe.bornOf(wc.file, handle))
	wc.end = wc
	if !t.c.conn.PostCall(&wc.postedCall, nil) {
		t.c.rcache.postEnd(wc.posting)
		return false
	}
	t.posted = true
	return true
}

// writeMemory is appMemory reading into the replay log's write buffers
// (replaylog.Log.WriteBuffer) for a write behind's one input, its data:
// the log retains it as the call's own and reuses it once durable.
type writeMemory struct {
	appMemory
	rl *replaylog.Log
	// pooled says the last read's buffer is one of the log's pool's
	// sizes (its call then says so: pending.pooledData).
	pooled bool
}

// ReadAt implements sysabi.AppMemory.ReadAt.
func (m *writeMemory) ReadAt(addr uint64, n int) ([]byte, error) {
	if n < 0 {
		return nil, unix.EFAULT
	}
	b, pooled := m.rl.WriteBuffer(n)
	if _, err := m.t.mm.CopyIn(m.t.gctx, hostarch.Addr(addr), b, usermem.IOOpts{}); err != nil {
		return nil, unix.EFAULT
	}
	m.pooled = pooled
	return b, nil
}

// wbTarget returns the description of t's fd and its record if a write
// to it may be written behind (see above; the caller checks that t's
// process has one thread).
func (t *task) wbTarget(fd int32) (uint64, pipeFile, bool) {
	file, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return 0, pipeFile{}, false
	}
	ps := &t.c.pipe
	ps.mu.Lock()
	defer ps.mu.Unlock()
	f, known := ps.files[file]
	pp, procKnown := ps.procs[t.proc.pid]
	ok = known && procKnown && f.regular && f.handle != "" && !pp.fsizeLimited && !ps.wbFailed[file] &&
		f.flags&unix.O_ACCMODE != unix.O_RDONLY && f.flags&unix.O_PATH == 0 && f.flags&wbOpenFlags == 0
	if ps.mayBeMappedLocked(f.handle) {
		ok = false
	}
	return file, f, ok
}

// wbBegin counts a write behind of data to description file and returns
// the function its reply (nil: it was not posted) goes to.
func (t *task) wbBegin(file uint64, data []byte) func(*pb.Reply) {
	t.wbCount(file)
	return func(r *pb.Reply) { t.wbEnd(file, data, r) }
}

// wbCount counts a write behind to description file in flight.
func (t *task) wbCount(file uint64) {
	ps := &t.c.pipe
	ps.mu.Lock()
	if ps.wbInFlight == nil {
		ps.wbInFlight = make(map[uint64]int)
	}
	ps.wbInFlight[file]++
	ps.mu.Unlock()
}

// wbEnd ends the count of a write behind of data to description file
// with its reply r (nil: it was not posted), and keeps its error.
func (t *task) wbEnd(file uint64, data []byte, r *pb.Reply) {
	if len(r.GetMapped()) > 0 {
		// A mapping made by another process while the write was in
		// flight (the client's check saw none): its pages follow the
		// write, off the receiving goroutine (a faulting thread holds
		// the file's locks across a PageRead this goroutine must
		// deliver). The data is copied first: the replay log may
		// reuse its buffer once a Durable push passes the write
		// (writeMemory).
		data := append([]byte(nil), data...)
		fc := t.c.files
		go func() {
			for _, ch := range r.GetMapped() {
				fc.applyChange(gvcontext.Background(), ch, data)
			}
		}()
	}
	// A write to a posted creation's file before its reply: its error
	// is the server's description's (postcreate.go).
	failed := t.c.rcache.settled(file)
	ps := &t.c.pipe
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.wbInFlight[file]--; ps.wbInFlight[file] <= 0 {
		delete(ps.wbInFlight, file)
	}
	if r != nil && r.Errno != 0 {
		if _, open := ps.files[failed]; open {
			if ps.wbFailed == nil {
				ps.wbFailed = make(map[uint64]bool)
			}
			ps.wbFailed[failed] = true
		}
	}
}

// writeCount returns the count a write-family call with inputs returns
// when the file takes every byte, if the inputs hold them all (an
// unreadable buffer is the server's EFAULT) and the count is not clipped
// to sysabi.MaxBuffer.
func writeCount(sysno uintptr, args [6]uint64, inputs []sysabi.Region) (uint64, bool) {
	switch sysno {
	case unix.SYS_WRITE, unix.SYS_PWRITE64, unix.SYS_SENDTO:
		n := args[2]
		return n, n <= sysabi.MaxBuffer && len(inputs) == 1 && uint64(len(inputs[0].Data)) == n
	case unix.SYS_WRITEV, unix.SYS_PWRITEV:
		cnt := args[2]
		if cnt > sysabi.MaxIovecs || len(inputs) == 0 || uint64(len(inputs[0].Data)) != 16*cnt {
			return 0, false
		}
		var total, have uint64
		for i := uint64(0); i < cnt; i++ {
			l := binary.LittleEndian.Uint64(inputs[0].Data[16*i+8:])
			if int64(l) < 0 || l > sysabi.MaxBuffer {
				return 0, false
			}
			total += l
		}
		for _, r := range inputs[1:] {
			have += uint64(len(r.Data))
		}
		return total, total <= sysabi.MaxBuffer && have == total
	}
	return 0, false
}

// writeBehindFailed reports whether fd's description has a write behind
// whose failure the server keeps: its close then waits, to return it. A
// close while writes behind are only in flight is posted (as on Linux,
// a close does not report their error: the next fsync of the file does;
// the server keeps it, package sentry/server/wberr).
func (t *task) writeBehindFailed(fd int32) bool {
	file, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return false
	}
	ps := &t.c.pipe
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.wbFailed[file]
}

// writeErrorReported forgets that fd's description has a kept error: the
// server returned it to the fsync, fdatasync, write or close that the
// caller waited for (whose reply came after every earlier posted one's).
func (t *task) writeErrorReported(fd int32) {
	file, ok := t.c.ids.soleFD(t.proc.pid, fd)
	if !ok {
		return
	}
	ps := &t.c.pipe
	ps.mu.Lock()
	delete(ps.wbFailed, file)
	ps.mu.Unlock()
}
