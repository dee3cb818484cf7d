package client

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Pipelined metadata calls (docs/COMPATIBILITY.md, "Pipelined calls").
//
// chown, lchown, fchownat, chmod, fchmodat and utimensat of a path, and
// fchown, fchmod and futimens of an fd, are posted when the client knows
// they succeed: their target is a file the caller created in this
// session, by that name (open with O_CREAT|O_EXCL, or mkdir, relative to
// the working directory or absolute) or through that fd (the O_EXCL
// open's), and nothing since could have changed what the name resolves
// to or who may change the file:
//
//   - Every forwarded call of any process of the client that is not on
//     the nameSafe list (a rename, unlink, rmdir, chdir, mount, set*id, a
//     chmod or chown that is not posted, an exec...) forgets every such
//     name and fd first, and while one is in flight nothing is posted
//     or learnt. A creation is learnt only if no such call was sent
//     between its own sending and its reply.
//   - The caller's rights: it is the file's owner (it created it, with
//     its euid as fsuid; a process that called setfsuid or setfsgid never
//     posts), which may chmod and set times; a chown needs CAP_CHOWN in
//     the effective set, or to keep the owner and give a group the caller
//     is in, as the server checks.
//   - The arguments are ones the server accepts: flags of utimensat and
//     fchownat only AT_SYMLINK_NOFOLLOW, times valid (or NULL), memory
//     readable.
//
// So only a party outside the sandbox (the host, another sandbox on the
// same files) can make the call fail after the application was told it
// succeeded, or a gofer that may not make the change (one without
// CAP_CHOWN). Such a failure is logged, and the client then waits for
// every metadata call for the rest of the session.
//
// As for the other posted calls, the process's fd table and fs context
// must be its own; of several threads, it posts while every other
// thread's call in flight is neutral (threadorder.go).

// createdFile is a file a process created: the owner it was created with.
type createdFile struct {
	owner uint32
	// regular says it was made by an open (a regular file), not a
	// mkdir.
	regular bool
	// born is the number of its creation (readCache.creationSent; 0:
	// not known).
	born uint64
	// dir is a mkdir's directory, whose posted changes are counted by
	// its inode once the mkdir's reply names it (dirattrs.go; nil: not
	// a mkdir, or no path cache).
	dir *madeDir
}

// metaPipeline is what the client knows to post metadata calls. mu is
// held across a post (so that a call that forgets the names is sent
// either before the check or after the posted call): it comes before
// remoteSession.mu, and only task goroutines take it.
type metaPipeline struct {
	mu sync.Mutex
	// gen counts the calls that forgot the names; unsafeInFlight counts
	// those without a reply. Protected by mu.
	gen            uint64
	unsafeInFlight int
	// names and fds are, per process (not pid: a pid may be reused by
	// a spawned process, which no unsafe call announces), the files the process created by name
	// (as given) and by description id. Protected by mu.
	names map[*process]map[string]createdFile
	fds   map[*process]map[uint64]createdFile
	// noFSID are the processes that called setfsuid or setfsgid.
	// Protected by mu.
	noFSID map[*process]bool
	// disabled is set after a posted metadata call failed. Atomic: the
	// receiving goroutine sets it, and never takes mu (a poster holds mu
	// across its send, which may wait for the receiver to drain the
	// connection).
	disabled atomic.Bool
}

// maxCreatedPerProcess bounds what a process's names and fds hold.
const maxCreatedPerProcess = 256

// nameSafe are the forwarded calls that cannot change what an existing
// name resolves to, a file's owner or mode, the mount table, the
// working directory or credentials: they leave the created names known.
// Creating new names (open O_CREAT, mkdir, mknod, symlink, link) cannot
// change an existing one's resolution.
var nameSafe = map[uintptr]bool{
	unix.SYS_READ: true, unix.SYS_WRITE: true, unix.SYS_PREAD64: true, unix.SYS_PWRITE64: true,
	unix.SYS_READV: true, unix.SYS_WRITEV: true, unix.SYS_PREADV: true, unix.SYS_PWRITEV: true,
	unix.SYS_PREADV2: true, unix.SYS_PWRITEV2: true, unix.SYS_LSEEK: true, unix.SYS_CLOSE: true,
	unix.SYS_FSTAT: true, unix.SYS_NEWFSTATAT: true, unix.SYS_STAT: true, unix.SYS_LSTAT: true, unix.SYS_STATX: true,
	unix.SYS_ACCESS: true, unix.SYS_FACCESSAT: true, unix.SYS_FACCESSAT2: true,
	unix.SYS_READLINK: true, unix.SYS_READLINKAT: true, unix.SYS_GETCWD: true,
	unix.SYS_OPEN: true, unix.SYS_OPENAT: true, unix.SYS_CREAT: true, unix.SYS_GETDENTS64: true,
	unix.SYS_MKDIR: true, unix.SYS_MKDIRAT: true, unix.SYS_MKNOD: true, unix.SYS_MKNODAT: true,
	unix.SYS_SYMLINK: true, unix.SYS_SYMLINKAT: true, unix.SYS_LINK: true, unix.SYS_LINKAT: true,
	unix.SYS_UMASK: true, unix.SYS_FSYNC: true, unix.SYS_FDATASYNC: true, unix.SYS_CLOSE_RANGE: true,
	unix.SYS_SYNC_FILE_RANGE: true, unix.SYS_READAHEAD: true,
	unix.SYS_SENDFILE: true, unix.SYS_COPY_FILE_RANGE: true, unix.SYS_SPLICE: true, unix.SYS_VMSPLICE: true,
	unix.SYS_DUP: true, unix.SYS_DUP2: true, unix.SYS_DUP3: true, unix.SYS_PIPE: true, unix.SYS_PIPE2: true,
	unix.SYS_WAIT4: true, unix.SYS_WAITID: true, unix.SYS_EXIT: true, unix.SYS_EXIT_GROUP: true,
	unix.SYS_STATFS: true, unix.SYS_FSTATFS: true, unix.SYS_POLL: true, unix.SYS_PPOLL: true,
	unix.SYS_SELECT: true, unix.SYS_PSELECT6: true, unix.SYS_RT_SIGACTION: true,
	unix.SYS_GETXATTR: true, unix.SYS_LGETXATTR: true, unix.SYS_FGETXATTR: true,
	unix.SYS_LISTXATTR: true, unix.SYS_LLISTXATTR: true, unix.SYS_FLISTXATTR: true,
	// File contents and locks, not names.
	unix.SYS_FTRUNCATE: true, unix.SYS_TRUNCATE: true, unix.SYS_FALLOCATE: true, unix.SYS_SYNC: true,
	unix.SYS_SYNCFS: true, unix.SYS_FCNTL: true, unix.SYS_FLOCK: true, unix.SYS_MMAP: true,
	// New processes (a thread or a shared fs context stops posting by
	// itself: the process records say so), signals, sockets, IPC and
	// waits: they may block for long, and must not keep posting off.
	unix.SYS_CLONE: true, unix.SYS_FORK: true, unix.SYS_VFORK: true, unix.SYS_CLONE3: true,
	unix.SYS_KILL: true, unix.SYS_TGKILL: true, unix.SYS_TKILL: true, unix.SYS_SETPGID: true, unix.SYS_SETSID: true,
	unix.SYS_EPOLL_CREATE1: true, unix.SYS_EPOLL_CTL: true, unix.SYS_EPOLL_WAIT: true, unix.SYS_EPOLL_PWAIT: true, unix.SYS_EPOLL_PWAIT2: true,
	unix.SYS_SOCKET: true, unix.SYS_SOCKETPAIR: true, unix.SYS_BIND: true, unix.SYS_LISTEN: true, unix.SYS_CONNECT: true,
	unix.SYS_ACCEPT: true, unix.SYS_ACCEPT4: true, unix.SYS_SENDTO: true, unix.SYS_RECVFROM: true, unix.SYS_SENDMSG: true,
	unix.SYS_RECVMSG: true, unix.SYS_SHUTDOWN: true, unix.SYS_GETSOCKOPT: true, unix.SYS_SETSOCKOPT: true,
	unix.SYS_GETSOCKNAME: true, unix.SYS_GETPEERNAME: true, unix.SYS_EVENTFD2: true,
	unix.SYS_TIMERFD_CREATE: true, unix.SYS_TIMERFD_SETTIME: true, unix.SYS_TIMERFD_GETTIME: true,
	unix.SYS_MSGSND: true, unix.SYS_MSGRCV: true, unix.SYS_SEMOP: true, unix.SYS_SEMTIMEDOP: true,
	unix.SYS_MQ_TIMEDSEND: true, unix.SYS_MQ_TIMEDRECEIVE: true, unix.SYS_MQ_NOTIFY: true,
}

// nameCalls are the posted metadata calls, which the caller checks
// itself (pipelineMeta).
var nameCalls = map[uintptr]bool{
	unix.SYS_CHOWN: true, unix.SYS_LCHOWN: true, unix.SYS_FCHOWNAT: true, unix.SYS_FCHOWN: true,
	unix.SYS_CHMOD: true, unix.SYS_FCHMODAT: true, unix.SYS_FCHMOD: true, unix.SYS_UTIMENSAT: true,
}

// metaCheck is what forward remembers of a call for the names: an
// unsafe call (done) or a creation (learn).
type metaCheck struct {
	unsafe bool
	// learn is set for a creation sent while nothing unsafe was in
	// flight, at generation gen.
	learn bool
	gen   uint64
	// born is the creation's number (readCache.creationSent).
	born uint64
	// dir is a mkdir's directory (createdFile.dir), which the mkdir's
	// reply names (madeDirReplied).
	dir *madeDir
}

// before is called by forward before sending a call that was not
// posted.
func (mp *metaPipeline) before(t *task, sysno uintptr, args [6]uint64) metaCheck {
	if sysno == unix.SYS_SETFSUID || sysno == unix.SYS_SETFSGID {
		mp.mu.Lock()
		if mp.noFSID == nil {
			mp.noFSID = make(map[*process]bool)
		}
		mp.noFSID[t.proc] = true
		mp.mu.Unlock()
	}
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if !nameSafe[sysno] {
		mp.gen++
		mp.unsafeInFlight++
		mp.names, mp.fds = nil, nil
		return metaCheck{unsafe: true}
	}
	if creates(sysno, args) && mp.unsafeInFlight == 0 {
		mc := metaCheck{learn: true, gen: mp.gen, born: t.c.rcache.creationSent()}
		if (sysno == unix.SYS_MKDIR || sysno == unix.SYS_MKDIRAT) && t.c.pcache != nil {
			mc.dir = &madeDir{}
		}
		return mc
	}
	return metaCheck{}
}

// after is called by forward with the call's result.
func (mp *metaPipeline) after(t *task, mc metaCheck, sysno uintptr, args [6]uint64, ret uint64, errno unix.Errno) {
	if mc.unsafe {
		mp.mu.Lock()
		mp.unsafeInFlight--
		mp.mu.Unlock()
		return
	}
	if !mc.learn || errno != 0 {
		return
	}
	ids, ok := t.ownIDs()
	if !ok {
		return
	}
	var name string
	var fdOK bool
	var file uint64
	switch sysno {
	case unix.SYS_OPEN:
		name, ok = t.pathAt(args[0])
		file, fdOK = t.c.ids.soleFD(t.proc.pid, int32(ret))
	case unix.SYS_OPENAT:
		name, ok = t.pathAtDir(int32(args[0]), args[1])
		file, fdOK = t.c.ids.soleFD(t.proc.pid, int32(ret))
	case unix.SYS_MKDIR:
		name, ok = t.pathAt(args[0])
	case unix.SYS_MKDIRAT:
		name, ok = t.pathAtDir(int32(args[0]), args[1])
	}
	if fdOK {
		// The description is the new file's, whatever its name
		// names since.
		t.c.pipe.noteBorn(file, mc.born)
	}
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if mp.gen != mc.gen || mp.noFSID[t.proc] {
		return
	}
	if !ok {
		name = ""
	}
	if !fdOK {
		file = 0
	}
	mp.noteCreatedLocked(t.proc, name, file, createdFile{owner: ids.euid, regular: sysno == unix.SYS_OPEN || sysno == unix.SYS_OPENAT, born: mc.born, dir: mc.dir})
}

// noteCreatedLocked notes that process p created cf by name ("": not
// known) and description file (0: none). Precondition: mp.mu.
func (mp *metaPipeline) noteCreatedLocked(p *process, name string, file uint64, cf createdFile) {
	name = strings.TrimRight(name, "/")
	if name != "" {
		if mp.names == nil {
			mp.names = make(map[*process]map[string]createdFile)
		}
		m := mp.names[p]
		if m == nil || len(m) >= maxCreatedPerProcess {
			m = make(map[string]createdFile)
			mp.names[p] = m
		}
		m[name] = cf
	}
	if file != 0 {
		if mp.fds == nil {
			mp.fds = make(map[*process]map[uint64]createdFile)
		}
		m := mp.fds[p]
		if m == nil || len(m) >= maxCreatedPerProcess {
			m = make(map[uint64]createdFile)
			mp.fds[p] = m
		}
		m[file] = cf
	}
}

// creates reports whether the call creates a file it then names: an open
// with O_CREAT|O_EXCL, creat is not (it may open an existing file), or a
// mkdir.
func creates(sysno uintptr, args [6]uint64) bool {
	switch sysno {
	case unix.SYS_OPEN:
		return args[1]&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL
	case unix.SYS_OPENAT:
		return args[2]&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL
	case unix.SYS_MKDIR, unix.SYS_MKDIRAT:
		return true
	}
	return false
}

// pathAt reads the path at addr.
func (t *task) pathAt(addr uint64) (string, bool) {
	regs := sysabi.Inputs(unix.SYS_CHMOD, [6]uint64{addr}, appMemory{t})
	if len(regs) != 1 {
		return "", false
	}
	s, _, found := bytes.Cut(regs[0].Data, []byte{0})
	return string(s), found || len(s) < len(regs[0].Data)
}

// pathAtDir reads the path at addr of an *at call with dirfd: only a
// path from the working directory (AT_FDCWD) or an absolute one names
// the file here.
func (t *task) pathAtDir(dirfd int32, addr uint64) (string, bool) {
	p, ok := t.pathAt(addr)
	if !ok || (dirfd != unix.AT_FDCWD && !strings.HasPrefix(p, "/")) {
		return "", false
	}
	return p, true
}

// pipelineMeta posts a metadata call if it may (see above) and reports
// whether it did.
func (t *task) pipelineMeta(sysno uintptr, args [6]uint64) bool {
	// The target: a name or an fd, and the call's checks.
	var name string
	var fd int32 = -1
	ok := true
	var uid, gid uint32 = ^uint32(0), ^uint32(0)
	chown := false
	switch sysno {
	case unix.SYS_CHOWN, unix.SYS_LCHOWN:
		name, ok = t.pathAt(args[0])
		uid, gid, chown = uint32(args[1]), uint32(args[2]), true
	case unix.SYS_FCHOWNAT:
		name, ok = t.pathAtDir(int32(args[0]), args[1])
		uid, gid, chown = uint32(args[2]), uint32(args[3]), true
		ok = ok && args[4]&^unix.AT_SYMLINK_NOFOLLOW == 0
	case unix.SYS_FCHOWN:
		fd = int32(args[0])
		uid, gid, chown = uint32(args[1]), uint32(args[2]), true
	case unix.SYS_CHMOD:
		name, ok = t.pathAt(args[0])
	case unix.SYS_FCHMODAT:
		name, ok = t.pathAtDir(int32(args[0]), args[1])
	case unix.SYS_FCHMOD:
		fd = int32(args[0])
	case unix.SYS_UTIMENSAT:
		if args[1] == 0 {
			// futimens; Linux refuses flags here.
			fd = int32(args[0])
			ok = args[3] == 0
		} else {
			name, ok = t.pathAtDir(int32(args[0]), args[1])
		}
		ok = ok && args[3]&^unix.AT_SYMLINK_NOFOLLOW == 0 && t.validTimes(args[2])
	default:
		return false
	}
	if !ok || (fd < 0 && name == "") {
		return false
	}
	// With several threads, while every other thread's call in flight
	// is neutral (threadorder.go): none renames or removes the name,
	// closes the fd or changes the credentials. The server must not
	// keep such a call, marked after_posted, waiting for its own
	// thread's run of attribute calls, which waits for it
	// (FeatureAfterOthersPosted).
	p, ok := t.lockNeutralOthers(t.c.conn.serverHas(pb.FeatureAfterOthersPosted))
	if !ok {
		return false
	}
	defer p.unlockOrder()
	var file uint64
	if fd >= 0 {
		if file, ok = t.c.ids.soleFD(t.proc.pid, fd); !ok {
			return false
		}
	}
	ids, known := t.ownIDs()
	if !known {
		return false
	}
	capChown, groups, fsShared := t.c.pipe.chownRights(t.proc.pid, ids)
	if fsShared {
		return false
	}
	mp := &t.c.meta
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if mp.disabled.Load() || mp.unsafeInFlight > 0 || mp.noFSID[t.proc] {
		return false
	}
	var cf createdFile
	if fd >= 0 {
		cf, ok = mp.fds[t.proc][file]
	} else {
		cf, ok = mp.names[t.proc][name]
	}
	if !ok || cf.owner != ids.euid {
		return false
	}
	if chown && !capChown {
		if uid != ^uint32(0) && uid != cf.owner {
			return false
		}
		if gid != ^uint32(0) && gid != ids.egid && !groups[gid] {
			return false
		}
	}
	inputs := sysabi.Inputs(sysno, args, appMemory{t})
	done := func(r *pb.Reply) {
		if r == nil || r.Errno == 0 {
			return
		}
		if !mp.disabled.Swap(true) {
			t.c.log.Warn("a posted metadata call failed; metadata calls wait for their replies from now on",
				"syscall", sysName(sysno), "errno", unix.Errno(r.Errno).Error())
		}
	}
	sc := &pb.Syscall{Sysno: int32(sysno), Args: args[:], Inputs: toPBRegions(inputs)}
	call := newPostedCallOf(t.tid, sc)
	var posted bool
	if cf.dir != nil {
		posted = t.postDirAttrs(call, done, cf.dir)
	} else {
		change := attrsChange
		if cf.regular {
			change = fileAttrsChange
			call.replyCanWait()
		}
		posted = t.postChange(call, done, "", 0, change, cf.born)
	}
	if !posted {
		return false
	}
	if chown && uid != ^uint32(0) {
		// The new owner may not be the caller: its later calls check
		// against it.
		cf.owner = uid
		if fd >= 0 {
			mp.fds[t.proc][file] = cf
		} else {
			mp.names[t.proc][name] = cf
		}
	}
	if fd < 0 && sysno != unix.SYS_UTIMENSAT {
		// A directory's new mode or owner may take away search rights
		// from the names under it.
		for n := range mp.names[t.proc] {
			if strings.HasPrefix(n, name+"/") {
				delete(mp.names[t.proc], n)
			}
		}
	}
	return true
}

// validTimes reports whether utimensat's times at addr (NULL: now) are
// readable and valid.
func (t *task) validTimes(addr uint64) bool {
	if addr == 0 {
		return true
	}
	regs := sysabi.Inputs(unix.SYS_UTIMENSAT, [6]uint64{0, 0, addr}, appMemory{t})
	for _, r := range regs {
		if r.Addr != addr {
			continue
		}
		if len(r.Data) != 32 {
			return false
		}
		for i := 0; i < 2; i++ {
			ns := int64(binary.LittleEndian.Uint64(r.Data[16*i+8:]))
			if ns != utimeNow && ns != utimeOmit && (ns < 0 || ns >= 1e9) {
				return false
			}
		}
		return true
	}
	return false
}

// utimensat's special nanosecond values.
const (
	utimeNow  = (1 << 30) - 1
	utimeOmit = (1 << 30) - 2
)

// chownRights returns whether pid has CAP_CHOWN in its effective set, its
// supplementary groups, and whether another process shares its fs
// context (its working directory).
func (ps *pipelineState) chownRights(pid int32, ids procIDs) (capChown bool, groups map[uint32]bool, fsShared bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pp, ok := ps.procs[pid]
	if !ok || pp.fs == 0 {
		return false, nil, true
	}
	for other, o := range ps.procs {
		if other != pid && o.fs == pp.fs {
			return false, nil, true
		}
	}
	if pp.capsKnown {
		capChown = pp.capsEffective&(1<<unix.CAP_CHOWN) != 0
	} else {
		capChown = ids.euid == 0
	}
	return capChown, pp.groups, false
}

// effectiveCaps returns pid's effective capability set as its last record
// said, else all for euid 0 and none for others (the records say it once
// a process's state is posted).
func (ps *pipelineState) effectiveCaps(pid int32, euid uint32) uint64 {
	ps.mu.Lock()
	pp, ok := ps.procs[pid]
	ps.mu.Unlock()
	if ok && pp.capsKnown {
		return pp.capsEffective
	}
	if euid == 0 {
		return ^uint64(0)
	}
	return 0
}
