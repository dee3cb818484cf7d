package client

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Idle epolls (docs/ARCHITECTURE.md, "Idle epolls on the client").
//
// A Go program's scheduler calls epoll_pwait(epfd, events, 128, 0, NULL)
// whenever a thread runs out of work, and mostly nothing is ready: a
// cold go build made ~2,200 such calls, each a round trip. The client
// asks such a call (a zero timeout, no signal mask) for an IdleLease
// (Syscall.lease_wanted); the server grants one with an answer of 0 when
// the instance watches only pipes and eventfds, whose readiness only
// calls change, and revokes it before the reply of the call that changes
// one of them (an own LeaseRevoke). While it holds, the client answers
// the same call on the same description with 0 itself, unless a call it
// posted that may change a pipe's or an eventfd's readiness (a write
// behind to a pipe, a posted close of one, an exit) has no reply yet
// (remoteSession.postedReadiness): the server's revocation for it would
// come with that reply. A call of another thread in flight needs no such
// care: the answer is as if made before it, which its caller cannot tell
// from the order it ran in.

// maxEpollEvents is Linux's EP_MAX_EVENTS: INT_MAX / sizeof(struct
// epoll_event). Beyond it epoll_wait fails (EINVAL), which the server
// answers.
const maxEpollEvents = 0x7fffffff / 12

// idleEpolls are the client's idle leases, by epoll description.
type idleEpolls struct {
	// mu protects the fields below. A leaf.
	mu sync.Mutex
	// byDesc maps an epoll description (FileState id) to its lease;
	// byID the lease's id to the description.
	byDesc map[uint64]idleGrant
	byID   map[uint64]uint64
	// lastEpoch is the latest LeaseRevoke epoch: a grant numbered below
	// it may be of a lease revoked already (ReadLease.epoch).
	lastEpoch uint64
	// hits counts the calls answered here, grants the leases taken.
	// Atomic.
	hits, grants atomic.Uint64
}

// idleGrant is one idle lease: its id, and until when it holds.
type idleGrant struct {
	id      uint64
	expires time.Time
}

// idleCall says whether epoll call sysno(args) is one an idle lease
// answers: epoll_wait or epoll_pwait with a zero timeout and no signal
// mask, and arguments the server would not refuse.
func idleCall(sysno uintptr, args [6]uint64) bool {
	switch sysno {
	case unix.SYS_EPOLL_WAIT:
	case unix.SYS_EPOLL_PWAIT:
		if args[4] != 0 {
			return false
		}
	default:
		return false
	}
	max := int32(args[2])
	return int32(args[3]) == 0 && args[1] != 0 && max > 0 && max <= maxEpollEvents
}

// idleDescription returns the description of epoll call sysno(args)'s
// fd, if the call is one an idle lease could answer (idleCall).
func (t *task) idleDescription(sysno uintptr, args [6]uint64) (uint64, bool) {
	if t.c.rcache == nil || !idleCall(sysno, args) {
		return 0, false
	}
	return t.c.ids.descriptionOf(t.proc.pid, int32(args[0]))
}

// idleEpoll answers epoll call sysno(args) with 0 events if an idle lease
// of its description holds and no posted call that may change a pipe's
// or an eventfd's readiness awaits its reply (see above).
func (t *task) idleEpoll(sysno uintptr, args [6]uint64) bool {
	desc, ok := t.idleDescription(sysno, args)
	if !ok || t.c.conn.postedReadinessInFlight() {
		return false
	}
	ie := &t.c.idle
	ie.mu.Lock()
	g, ok := ie.byDesc[desc]
	if ok && !time.Now().Before(g.expires) {
		ie.dropLocked(desc)
		ok = false
	}
	ie.mu.Unlock()
	if !ok {
		return false
	}
	ie.hits.Add(1)
	t.cached = true
	return true
}

// grant takes idle lease l of epoll description desc, from a call sent
// at sent, unless a revocation decided after its grant came first.
func (ie *idleEpolls) grant(desc uint64, l *pb.IdleLease, sent time.Time) {
	if l == nil || l.Id == 0 || l.TtlMs == 0 {
		return
	}
	ie.mu.Lock()
	defer ie.mu.Unlock()
	// The server revoked the description's lease before: gone whether
	// this one is taken or not.
	ie.dropLocked(desc)
	if l.Epoch < ie.lastEpoch {
		return
	}
	if ie.byDesc == nil {
		ie.byDesc, ie.byID = make(map[uint64]idleGrant), make(map[uint64]uint64)
	}
	ie.byDesc[desc] = idleGrant{id: l.Id, expires: sent.Add(time.Duration(l.TtlMs) * time.Millisecond)}
	ie.byID[l.Id] = desc
	ie.grants.Add(1)
}

// revoke ends the idle leases r names (the receiving goroutine, in order
// with the replies; onLeaseRevoke).
func (ie *idleEpolls) revoke(r *pb.LeaseRevoke) {
	ie.mu.Lock()
	defer ie.mu.Unlock()
	ie.lastEpoch = max(ie.lastEpoch, r.Epoch)
	for _, id := range r.Ids {
		if desc, ok := ie.byID[id]; ok {
			ie.dropLocked(desc)
		}
	}
}

// dropLocked forgets the lease of description desc. Precondition: ie.mu.
func (ie *idleEpolls) dropLocked(desc uint64) {
	if g, ok := ie.byDesc[desc]; ok {
		delete(ie.byID, g.id)
		delete(ie.byDesc, desc)
	}
}

// dropAll forgets every idle lease (a recovery: the new server granted
// none).
func (ie *idleEpolls) dropAll() {
	ie.mu.Lock()
	defer ie.mu.Unlock()
	clear(ie.byDesc)
	clear(ie.byID)
	ie.lastEpoch = 0
}

// postedReadinessInFlight says whether a posted call that may change a
// pipe's or an eventfd's readiness awaits its reply.
func (s *remoteSession) postedReadinessInFlight() bool {
	s.imu.Lock()
	defer s.imu.Unlock()
	return s.postedReadiness > 0
}

// readinessNeutral are the calls whose posting changes no pipe's or
// eventfd's readiness, whatever their arguments.
var readinessNeutral = map[int32]bool{
	unix.SYS_RT_SIGACTION: true, unix.SYS_RT_SIGPROCMASK: true, unix.SYS_UMASK: true, unix.SYS_LSEEK: true,
	unix.SYS_MMAP: true, unix.SYS_MUNMAP: true, unix.SYS_MPROTECT: true, unix.SYS_MADVISE: true,
	unix.SYS_GETDENTS64: true, unix.SYS_OPEN: true, unix.SYS_OPENAT: true, unix.SYS_MKDIR: true,
	unix.SYS_MKDIRAT: true, unix.SYS_UNLINK: true, unix.SYS_UNLINKAT: true, unix.SYS_RMDIR: true,
	unix.SYS_CHMOD: true, unix.SYS_FCHMODAT: true, unix.SYS_CHOWN: true, unix.SYS_LCHOWN: true,
	unix.SYS_FCHOWNAT: true, unix.SYS_UTIMENSAT: true,
}

// readinessOfFD are the calls that change a pipe's or an eventfd's
// readiness only if their first argument, an fd, is one (a read or write,
// a close, a sync or attribute change of it).
var readinessOfFD = map[int32]bool{
	unix.SYS_WRITE: true, unix.SYS_WRITEV: true, unix.SYS_PWRITE64: true, unix.SYS_PWRITEV: true,
	unix.SYS_READ: true, unix.SYS_READV: true, unix.SYS_PREAD64: true, unix.SYS_PREADV: true,
	unix.SYS_CLOSE: true, unix.SYS_FSYNC: true, unix.SYS_FDATASYNC: true, unix.SYS_FTRUNCATE: true,
	unix.SYS_FCHMOD: true, unix.SYS_FCHOWN: true, unix.SYS_COPY_FILE_RANGE: true, unix.SYS_SENDFILE: true,
}

// changesReadiness says whether posted call call of thread t (nil: not
// known) may change a pipe's or an eventfd's readiness: any call but the
// neutral ones, and those of readinessOfFD on a regular file's fd
// (F_SETFL and F_SETFD too: no readiness changes with a description's
// flags).
func changesReadiness(t *task, call *pb.Call) bool {
	sys := call.GetSyscall()
	if sys == nil {
		// A shared mapping's write-back (PageWrite): a regular file.
		return false
	}
	switch {
	case readinessNeutral[sys.Sysno]:
		return false
	case sys.Sysno == unix.SYS_FCNTL && len(sys.Args) > 1 && (sys.Args[1] == unix.F_SETFL || sys.Args[1] == unix.F_SETFD):
		return false
	case !readinessOfFD[sys.Sysno] || len(sys.Args) == 0:
		return true
	}
	return t == nil || !t.regularFD(int32(sys.Args[0]))
}

// regularFD says whether t's fd names a regular file.
func (t *task) regularFD(fd int32) bool {
	desc, ok := t.c.ids.descriptionOf(t.proc.pid, fd)
	if !ok {
		return false
	}
	f, known := t.c.pipe.fileOf(desc)
	return known && f.regular
}
