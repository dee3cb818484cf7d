package client

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// scratchAddr is a fake application address used for the by-reference
// arguments of calls the client makes on its own behalf (forceSignal,
// credential refresh). It lies below mmap_min_addr, so it never names real
// application memory, and outputs written there are never copied back.
const scratchAddr = 0x1000

// localHandler implements a system call in the client.
type localHandler func(t *task, args [6]uint64) (uint64, unix.Errno)

// localSyscalls are the calls that never leave the client.
var localSyscalls map[uintptr]localHandler

func init() {
	localSyscalls = map[uintptr]localHandler{
		unix.SYS_BRK:                    sysBrk,
		unix.SYS_MMAP:                   sysMmap,
		unix.SYS_MUNMAP:                 sysMunmap,
		unix.SYS_MPROTECT:               sysMprotect,
		unix.SYS_MREMAP:                 sysMremap,
		unix.SYS_REMAP_FILE_PAGES:       sysRemapFilePages,
		unix.SYS_MADVISE:                sysMadvise,
		unix.SYS_MSYNC:                  sysMsync,
		unix.SYS_MLOCK:                  sysMlock,
		unix.SYS_MLOCK2:                 sysMlock2,
		unix.SYS_MUNLOCK:                sysMunlock,
		unix.SYS_MLOCKALL:               sysMlockall,
		unix.SYS_MUNLOCKALL:             sysMunlockall,
		unix.SYS_MINCORE:                sysMincore,
		unix.SYS_SHMDT:                  sysShmdt,
		unix.SYS_ARCH_PRCTL:             sysArchPrctl,
		unix.SYS_SET_TID_ADDRESS:        sysSetTidAddress,
		unix.SYS_SET_ROBUST_LIST:        sysSetRobustList,
		unix.SYS_GET_ROBUST_LIST:        sysGetRobustList,
		unix.SYS_RSEQ:                   sysENOSYS,
		unix.SYS_FUTEX:                  sysFutex,
		unix.SYS_FUTEX_WAITV:            sysFutexWaitv,
		unix.SYS_CLOCK_GETTIME:          sysClockGettime,
		unix.SYS_CLOCK_GETRES:           sysClockGetres,
		unix.SYS_GETTIMEOFDAY:           sysGettimeofday,
		unix.SYS_TIME:                   sysTime,
		unix.SYS_NANOSLEEP:              sysNanosleep,
		unix.SYS_CLOCK_NANOSLEEP:        sysClockNanosleep,
		unix.SYS_RESTART_SYSCALL:        sysRestartSyscall,
		unix.SYS_GETRANDOM:              sysGetrandom,
		unix.SYS_RT_SIGPROCMASK:         sysRtSigprocmask,
		unix.SYS_RT_SIGPENDING:          sysRtSigpending,
		unix.SYS_RT_SIGSUSPEND:          sysRtSigsuspend,
		unix.SYS_RT_SIGTIMEDWAIT:        sysRtSigtimedwait,
		unix.SYS_RT_SIGRETURN:           sysRtSigreturn,
		unix.SYS_KILL:                   sysKill,                                       // a caught signal to the caller's process (ownsignal.go)
		unix.SYS_TKILL:                  sysTkill,                                      // ... or to one of its threads; others forwarded
		unix.SYS_TGKILL:                 sysTgkill,                                     // as tkill
		unix.SYS_RT_SIGQUEUEINFO:        sysRtSigqueueinfo(unix.SYS_RT_SIGQUEUEINFO),   // forwarded after RLIMIT_SIGPENDING's check
		unix.SYS_RT_TGSIGQUEUEINFO:      sysRtSigqueueinfo(unix.SYS_RT_TGSIGQUEUEINFO), // as rt_sigqueueinfo
		unix.SYS_SIGALTSTACK:            sysSigaltstack,
		unix.SYS_PAUSE:                  sysPause,
		unix.SYS_SCHED_YIELD:            sysSchedYield,
		unix.SYS_SCHED_GET_PRIORITY_MAX: sysSchedGetPriorityMax,
		unix.SYS_SCHED_GET_PRIORITY_MIN: sysSchedGetPriorityMin,
		unix.SYS_SCHED_GETAFFINITY:      sysSchedGetaffinity,
		unix.SYS_SCHED_SETAFFINITY:      sysSchedSetaffinity,
		unix.SYS_UNAME:                  sysUname,
		unix.SYS_SETHOSTNAME:            sysSetUTSName(unix.SYS_SETHOSTNAME),   // forwarded, then kept here (uts.go)
		unix.SYS_SETDOMAINNAME:          sysSetUTSName(unix.SYS_SETDOMAINNAME), // as sethostname
		unix.SYS_GETUID:                 sysGetuid,
		unix.SYS_GETGID:                 sysGetgid,
		unix.SYS_GETEUID:                sysGeteuid,
		unix.SYS_GETEGID:                sysGetegid,
		unix.SYS_GETPID:                 sysGetpid,
		unix.SYS_GETPPID:                sysGetppid, // forwarded until known (procids.go)
		unix.SYS_GETPGRP:                sysGetpgrp,
		unix.SYS_GETPGID:                sysGetpgid,
		unix.SYS_GETSID:                 sysGetsid,
		unix.SYS_SETRESUID:              sysSetresuid, // no-ops answered, others forwarded (procids.go)
		unix.SYS_SETRESGID:              sysSetresgid,
		unix.SYS_GETTID:                 sysGettid,
		unix.SYS_GETRLIMIT:              sysGetrlimit,
		unix.SYS_SETRLIMIT:              sysSetrlimit,
		unix.SYS_PRLIMIT64:              sysPrlimit64,
		unix.SYS_SYSINFO:                sysSysinfo,
		unix.SYS_TIMES:                  sysTimes,
		unix.SYS_PRCTL:                  sysPrctl,
		unix.SYS_GETCPU:                 sysGetcpu,
		unix.SYS_PERSONALITY:            sysPersonality,
		unix.SYS_TIMER_CREATE:           sysTimerCreate,     // CPU clocks local, after the server's id (cpuposixtimers.go)
		unix.SYS_TIMER_SETTIME:          sysTimerSettime,    // CPU clocks local, others forwarded
		unix.SYS_TIMER_GETTIME:          sysTimerGettime,    // CPU clocks local, others forwarded
		unix.SYS_TIMER_GETOVERRUN:       sysTimerGetoverrun, // forwarded, then local
		unix.SYS_TIMER_DELETE:           sysTimerDelete,     // forwarded, then local
		unix.SYS_GETRUSAGE:              sysGetrusage,
		unix.SYS_SETITIMER:              sysSetitimer, // ITIMER_REAL forwarded
		unix.SYS_GETITIMER:              sysGetitimer, // ITIMER_REAL forwarded
		unix.SYS_PTRACE:                 sysPtrace,    // relation and resumes forwarded (ptrace.go)
		unix.SYS_PROCESS_VM_READV:       sysProcessVMReadv,
		unix.SYS_PROCESS_VM_WRITEV:      sysProcessVMWritev,
		unix.SYS_SECCOMP:                sysSeccomp,
		unix.SYS_MEMBARRIER:             sysMembarrier,
	}
}

func sysENOSYS(t *task, a [6]uint64) (uint64, unix.Errno) { return 0, unix.ENOSYS }

// syscall handles the system call that ended the last Switch.
func (t *task) syscall() {
	sysno := t.ac.SyscallNo()
	r := &t.ac.StateData().Regs
	args := [6]uint64{r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9}
	t.noReturn = false
	t.callMemo = callMemo{}
	t.posted = false
	t.forwarded = false
	t.cached = false
	t.unsent = false
	t.restartErrno = 0
	t.faultStreak = 0
	if sysno != unix.SYS_RESTART_SYSCALL {
		t.restartBlock = nil
	}
	defer t.ptraceSyscallStep()
	if t.ptraceSyscallTraced() {
		// Syscall-enter and -exit stops (ptrace.go).
		var skip bool
		if sysno, args, skip = t.ptraceSyscallEnter(); skip || t.isKilled() {
			t.ptraceSyscallExit()
			return
		}
		defer t.ptraceSyscallExit()
	}
	// Seccomp after the syscall-enter stop, as Linux orders them, so that
	// the filter sees what a tracer changed.
	if sc := t.seccomp.Load(); sc != nil {
		var refused bool
		if sysno, args, refused = t.seccompCheck(sc, sysno, args); refused {
			return // refused by the application's seccomp filter (seccomp.go)
		}
	}
	oldTID := t.tid
	t.ptraceBeforeCall(sysno, args)

	var ret uint64
	var errno unix.Errno
	local := false
	var shmBefore map[int32]int
	if vmaCalls[sysno] && t.c.shm.active() {
		shmBefore = t.shmMappings() // SysV segments' mappings (shm.go)
	}
	// A tracer's stop or the checks above may have read or changed
	// the application's memory.
	t.callMemo = callMemo{}
	if h, ok := localSyscalls[sysno]; ok {
		local = true
		ret, errno = h(t, args)
	} else {
		ret, errno = t.forwardWithSigmask(sysno, args)
	}
	if shmBefore != nil {
		t.reportShmChanges(shmBefore)
	}
	if sysno == unix.SYS_RT_SIGACTION && errno == 0 && args[1] != 0 {
		t.discardIgnored(linux.Signal(int32(args[0])))
	}
	t.io.account(sysno, ret, errno)
	t.ptraceAfterCall(sysno, args, ret, errno, oldTID)
	if t.c.cfg.Strace {
		t.strace(sysno, args, ret, errno, local)
	}
	if t.noReturn {
		return
	}
	if errno != 0 {
		if isRestartErrno(errno) {
			t.restartErrno = errno
		}
		t.ac.SetReturn(negErrno(errno))
		return
	}
	t.ac.SetReturn(uintptr(ret))
}

// flushFirst are the forwarded calls before which dirty pages of shared
// file mappings are written back (when there are any): those that read
// file data (so that a read(2) sees earlier stores), make it durable, or
// end a process or its address space (exit, exec), as Linux's page cache
// would have them see or keep the stores. See docs/ARCHITECTURE.md.
var flushFirst = map[uintptr]bool{
	unix.SYS_READ: true, unix.SYS_PREAD64: true, unix.SYS_READV: true, unix.SYS_PREADV: true, unix.SYS_PREADV2: true,
	unix.SYS_SENDFILE: true, unix.SYS_COPY_FILE_RANGE: true, unix.SYS_SPLICE: true,
	unix.SYS_FSYNC: true, unix.SYS_FDATASYNC: true, unix.SYS_SYNC: true, unix.SYS_SYNCFS: true, unix.SYS_SYNC_FILE_RANGE: true,
	unix.SYS_EXECVE: true, unix.SYS_EXECVEAT: true, unix.SYS_EXIT: true, unix.SYS_EXIT_GROUP: true,
	unix.SYS_FALLOCATE: true, // punches, zeroes or shifts the data stores made
}

// writtenData returns the bytes a write-family call sends (its inputs),
// nil for other calls.
func writtenData(sysno uintptr, inputs []sysabi.Region) []byte {
	switch sysno {
	case unix.SYS_WRITE, unix.SYS_PWRITE64:
		if len(inputs) > 0 {
			return inputs[0].Data
		}
	case unix.SYS_WRITEV, unix.SYS_PWRITEV, unix.SYS_PWRITEV2:
		// The iovec array, then each non-empty buffer in order.
		var out []byte
		for _, r := range inputs[min(1, len(inputs)):] {
			out = append(out, r.Data...)
		}
		return out
	}
	return nil
}

// forward sends a system call to the remote sentry and applies its reply.
func (t *task) forward(sysno uintptr, args [6]uint64) (uint64, unix.Errno) {
	var mc metaCheck
	ret, errno := t.forwardCall(sysno, args, &mc)
	t.c.meta.after(t, mc, sysno, args, ret, errno)
	return ret, errno
}

// forwardCall is forward; it sets *mc when it sends the call (metapipe.go).
func (t *task) forwardCall(sysno uintptr, args [6]uint64, mc *metaCheck) (uint64, unix.Errno) {
	t.forwarded = true
	// A signal that is already deliverable runs first; the call is then
	// restarted (as if the signal had arrived just before it).
	t.mu.Lock()
	if t.deliverableLocked() || t.killed {
		t.mu.Unlock()
		return 0, errRestartNoIntr
	}
	t.mu.Unlock()
	if errno := t.checkCloneLimits(sysno, args); errno != 0 {
		return 0, errno
	}
	t.noteOpenUse(sysno, args)

	if flushFirst[sysno] && t.c.files.pending() {
		// The server reads (or syncs, or replaces) file data this
		// client may hold dirty in shared mappings; it knows which
		// file the call touches, but the data is here.
		if err := t.c.files.flushAll(t.gctx); err != nil {
			t.c.log.Debug("write-back before a forwarded call failed", "syscall", sysName(sysno), "err", err)
		}
	}
	// Sent or posted from here on: a pipe's reader's copy ahead may no
	// longer be all the pipe holds.
	t.notePipeWrite(sysno, args)
	switch sysno {
	case unix.SYS_INOTIFY_INIT, unix.SYS_INOTIFY_INIT1:
		t.c.inotifyUsed.Store(true)
	case unix.SYS_CLOSE:
		t.forgetListingEnd(int32(args[0]))
		t.forgetFresh(int32(args[0]))
		if !t.writeBehindFailed(int32(args[0])) && !t.closesLastPipeReader(int32(args[0])) && t.pipelineClose(int32(args[0])) {
			return 0, 0
		}
	case unix.SYS_CLOSE_RANGE:
		t.closeRangeBefore(args) // forwarded and waited (closerange.go)
	case unix.SYS_UMASK:
		if old, ok := t.pipelineUmask(args); ok {
			return old, 0
		}
	case unix.SYS_RT_SIGACTION:
		if t.pipelineSigaction(args) {
			return 0, 0
		}
	case unix.SYS_DUP, unix.SYS_DUP2, unix.SYS_DUP3, unix.SYS_FCNTL:
		// A dup2 or dup3 over a pipe's last reader waits, as its
		// close does (pipebehind.go).
		replaces := (sysno == unix.SYS_DUP2 || sysno == unix.SYS_DUP3) && t.closesLastPipeReader(int32(args[1]))
		if !replaces {
			if fd, ok := t.pipelineDup(sysno, args); ok {
				return fd, 0
			}
		}
		if ret, errno, ok := t.fdFlagsOnClient(sysno, args); ok {
			return ret, errno
		}
	case unix.SYS_WRITE, unix.SYS_PWRITE64, unix.SYS_WRITEV, unix.SYS_PWRITEV:
		if n, ok := t.devNullIO(sysno, args); ok {
			return n, 0
		}
		if n, ok := t.writeBehind(sysno, args); ok {
			return n, 0
		}
		if n, ok := t.sendBehind(sysno, args); ok {
			return n, 0
		}
		if n, ok := t.pipeBehind(sysno, args); ok {
			return n, 0
		}
		if n, ok := t.stdioBehind(sysno, args); ok {
			return n, 0
		}
	case unix.SYS_FTRUNCATE:
		if t.truncateBehind(args) {
			return 0, 0
		}
	case unix.SYS_SENDTO:
		if n, ok := t.sendBehind(sysno, args); ok {
			return n, 0
		}
	case unix.SYS_EPOLL_CTL:
		if errno, ok := t.epollCtlOnClient(args); ok {
			return 0, errno
		}
	case unix.SYS_READ, unix.SYS_PREAD64, unix.SYS_READV, unix.SYS_PREADV:
		if n, ok := t.devNullIO(sysno, args); ok {
			return n, 0
		}
		if sysno == unix.SYS_READ {
			if n, ok := t.procDataRead(args); ok {
				return n, 0
			}
		}
		if n, ok := t.orderedCachedRead(sysno, args); ok {
			return n, 0
		}
		if sysno == unix.SYS_READ {
			if n, ok := t.pipeReadAhead(args); ok {
				return n, 0
			}
		}
	case unix.SYS_SENDFILE, unix.SYS_COPY_FILE_RANGE:
		if n, ok := t.leasedCopy(sysno, args); ok {
			return n, 0
		}
	case unix.SYS_FSTAT, unix.SYS_NEWFSTATAT:
		if t.orderedCachedFstat(sysno, args) {
			return 0, 0
		}
	case unix.SYS_IOCTL:
		if t.notServedIoctl(args) {
			return 0, unix.ENOTTY
		}
	case unix.SYS_FADVISE64:
		if errno, ok := t.fadviseOnClient(args); ok {
			return 0, errno
		}
	case unix.SYS_GETDENTS64:
		if t.listingAtEnd(args) {
			return 0, 0
		}
		if n, ok := t.listingAhead(args); ok {
			return n, 0
		}
		t.forgetFresh(int32(args[0]))
	case unix.SYS_GETDENTS:
		t.forgetFresh(int32(args[0]))
	case unix.SYS_LSEEK:
		t.forgetListingEnd(int32(args[0]))
		t.forgetFresh(int32(args[0]))
		if off, ok := t.orderedCachedLseek(args); ok {
			return off, 0
		}
	case unix.SYS_OPEN, unix.SYS_OPENAT:
		if t.cachedMissingOpen(sysno, args) {
			return 0, unix.ENOENT
		}
		if fd, ok := t.postOpen(sysno, args); ok {
			return fd, 0
		}
		if fd, ok := t.postCreate(sysno, args); ok {
			t.c.pcache.namesAfter(t.namesBefore(sysno, args), nil)
			return fd, 0
		}
	case unix.SYS_EXECVE:
		if t.cachedMissingExec(args) {
			return 0, unix.ENOENT
		}
	case unix.SYS_UNLINK, unix.SYS_UNLINKAT:
		if t.completeNamesUnlink(sysno, args) {
			return 0, unix.ENOENT
		}
		if t.postUnlink(sysno, args) {
			return 0, 0
		}
	case unix.SYS_RMDIR:
		if t.postUnlink(sysno, args) {
			return 0, 0
		}
	case unix.SYS_ACCESS, unix.SYS_FACCESSAT:
		if errno, ok := t.statAccess(sysno, args); ok {
			return 0, errno
		}
	case unix.SYS_MKDIR, unix.SYS_MKDIRAT:
		if errno, ok := t.postMkdir(sysno, args); ok {
			return 0, errno
		}
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT:
		if t.idleEpoll(sysno, args) {
			return 0, 0
		}
	case unix.SYS_EXIT_GROUP:
		if t.postExitGroup(args) {
			return 0, 0
		}
	case unix.SYS_WAIT4:
		if t.waitNoChildReady(args) {
			return 0, 0
		}
	}
	pathKey, pathKeyed, pathWanted, cret, cerrno, hit := t.cachedPath(sysno, args)
	if hit {
		return cret, cerrno
	}
	if t.cachedExists(sysno, args) {
		return 0, unix.EEXIST
	}
	namesChange := t.namesBefore(sysno, args)
	if nameCalls[sysno] && t.pipelineMeta(sysno, args) {
		return 0, 0
	}
	t.c.pcache.beforeForward(sysno, args)
	*mc = t.c.meta.before(t, sysno, args)
	if reportsWriteErrorCall(sysno, args) && sysno != unix.SYS_CLOSE {
		defer t.writeErrorReported(int32(args[0]))
	}
	inputs := sysabi.Inputs(sysno, args, appMemory{t})
	var noNewPrivs bool
	if sysno == unix.SYS_EXECVE || sysno == unix.SYS_EXECVEAT {
		// The server honours set-id bits unless told (prctl is local).
		t.proc.mu.Lock()
		noNewPrivs = t.proc.noNewPrivs
		t.proc.mu.Unlock()
	}
	listing := t.listingOf(sysno, args)
	parentKey, parentWanted := t.parentStatKey(sysno, args)
	openKey, openKeyed, openFirst := t.openToKeep(sysno, args)
	ownedWanted := t.dropOwnedBeforeForward(sysno, args)
	t.dropProcDataBeforeForward(sysno, args)
	leaseFrom, pathFrom := t.c.rcache.stamp(), t.c.pcache.stamp()
	t.c.rcache.waitedWrite(sysno)
	aheadOf := t.beforePipeRead(sysno, args)
	call := newSessionCall(t.tid, sysno, args, toPBRegions(inputs))
	sc := call.syscall()
	sc.PipeAheadWanted = aheadOf != 0
	sc.NoNewPrivs = noNewPrivs
	if sysno == unix.SYS_CLOSE {
		sc.CloseFile = t.closeFileOf(int32(args[0]))
	}
	sc.Clocks = clocksFor(sysno)
	sc.LeaseWanted = t.wantsLease(sysno) && t.copyMayLease(sysno, args) && t.readMayLease(sysno, int32(args[0]))
	idleDesc, idleWanted := t.idleDescription(sysno, args)
	sc.LeaseWanted = sc.LeaseWanted || idleWanted
	watchOpen := sc.LeaseWanted && readOnlyOpen(sysno, args)
	sc.OpenDataWanted = watchOpen && t.c.openUse.wanted()
	if sc.LeaseWanted {
		if paths := t.dataAhead(sysno, args); len(paths) > 0 {
			sc.AheadNames = pb.BytesList(paths) // Syscall.ahead_names of a read
		}
	}
	sc.OwnedWanted = ownedWanted || sc.LeaseWanted && t.ownedOpenWanted(sysno, args)
	sc.ProcDataWanted = t.procDataWanted(sysno, args)
	sc.PathLeaseWanted = pathWanted || listing.wanted || parentWanted || openKeyed
	sc.ListingPath = []byte(listing.path)
	if listing.ahead {
		sc.ListingAhead = maxAheadDirs
	}
	sc.DirListingWanted = pathKeyed && pathWanted && dirListingCalls[sysno] && t.c.pcache.dirListingWanted(pathKey)
	oc, ordered := t.beginOrdered(sysno, args)
	if ordered {
		// Counted from before its seq is drawn until its reply is
		// folded (threadorder.go).
		defer t.endOrdered(t.proc, oc)
		if sysno == unix.SYS_LSEEK {
			// Another thread's getdents64 may have marked the
			// listing's end since the forget above (direof.go).
			t.forgetListingEnd(int32(args[0]))
		}
	}
	reply, err := t.callSyscall(call)
	if err != nil {
		return 0, unix.EIO
	}
	if reply.Lease != nil {
		t.c.rcache.grant(reply.Lease, leaseFrom)
		t.c.noteLease(reply.Lease)
	}
	t.c.rcache.grantAhead(reply.AheadLeases.GetLeases(), leaseFrom)
	if idleWanted && reply.IdleLease != nil && reply.Errno == 0 && reply.Ret == 0 {
		t.c.idle.grant(idleDesc, reply.IdleLease, leaseFrom.sent)
	}
	if pathKeyed && reply.PathLease != nil {
		t.c.pcache.keep(pathKey, sysno, args, reply, pathFrom)
	}
	if sc.DirListingWanted && reply.PathLease != nil {
		t.c.pcache.keepDirListing(pathKey, reply, pathFrom)
	}
	t.c.pcache.namesAfter(namesChange, reply)
	t.keepCwdCopy(sysno, reply)
	if parentWanted && reply.PathLease != nil {
		t.c.pcache.keepParent(parentKey, reply, pathFrom)
		t.keepMadeDir(sysno, args, reply, pathFrom)
	}
	t.c.pcache.madeDirReplied(t.c.rcache, mc.dir, madeDirIno(reply))
	if listing.wanted && reply.PathLease != nil {
		t.keepListed(listing, reply, pathFrom)
	}
	if listing.ahead {
		t.keepAheadOf(listing, reply, pathFrom)
	}
	if sysno == unix.SYS_GETDENTS64 {
		t.noteListingEnd(int32(args[0]), reply, oc, ordered)
	}
	t.noteSendRoom(sysno, args, reply)
	t.notePipeRoom(sysno, args, reply)
	t.keepPipeAhead(aheadOf, reply)
	if openKeyed && reply.PathLease != nil {
		t.keepOpen(openKey, openFirst, reply, pathFrom)
		t.keepOpenedStat(openKey, openFirst, reply, pathFrom)
		t.keepMissingOpen(openKey, openFirst, reply, pathFrom)
	}
	if reply.Errno == 0 && (sysno == unix.SYS_OPEN || sysno == unix.SYS_OPENAT) {
		t.noteOpen(sysno, args, uint64(reply.Ret))
		if watchOpen {
			if desc, ok := t.c.ids.soleFD(t.proc.pid, int32(reply.Ret)); ok {
				t.c.openUse.opened(desc)
			}
		}
		if sc.LeaseWanted {
			t.startOwned(sysno, args, int32(reply.Ret), reply.Lease, leaseFrom)
		}
		if sc.ProcDataWanted && reply.ProcData != nil {
			t.keepProcData(int32(reply.Ret), reply.ProcData)
		}
	}
	t.ownedForwarded(sysno, int32(args[0]), reply)
	if len(reply.Mapped) > 0 {
		data := writtenData(sysno, inputs)
		for _, ch := range reply.Mapped {
			t.c.files.applyChange(t.gctx, ch, data)
		}
	}
	// Copy by-reference outputs back; the call already happened, so a
	// fault only changes the result.
	efault := false
	sticky := t.stickyTimeout(sysno, args)
	for _, o := range reply.Outputs {
		if len(o.Data) == 0 || o.Addr == sticky {
			continue
		}
		if _, err := t.mm.CopyOut(t.gctx, hostarch.Addr(o.Addr), o.Data, usermem.IOOpts{}); err != nil {
			efault = true
		}
	}
	t.noteReaped(sysno, args, reply)
	ret, errno := uint64(reply.Ret), unix.Errno(reply.Errno)
	switch act := reply.Action.(type) {
	case *pb.Reply_Exec:
		if errno == 0 {
			return t.applyExec(act.Exec)
		}
	case *pb.Reply_Clone:
		if errno == 0 {
			return t.applyClone(sysno, args, inputs, act.Clone)
		}
	case *pb.Reply_Exit:
		t.applyExit(act.Exit)
		return 0, 0
	case *pb.Reply_Mmap:
		if errno == 0 {
			return t.applyMmap(args, act.Mmap)
		}
	case *pb.Reply_ShmAttach:
		if errno == 0 {
			return t.applyShmAttach(args, act.ShmAttach)
		}
	case *pb.Reply_SignalfdRead:
		if errno == 0 {
			return t.signalfdRead(sysno, args, act.SignalfdRead)
		}
	}
	if errno == unix.ENOSYS {
		name := sysName(sysno)
		if _, seen := t.c.enosys.LoadOrStore(name, true); !seen {
			t.c.log.Info("remote sentry does not implement a system call", "syscall", name)
		}
	}
	if errno == 0 && efault {
		return 0, unix.EFAULT
	}
	if errno == 0 && isCredChange(sysno) {
		if ids, known := t.ownIDs(); known {
			// The reply carried the process's record (procids.go); the
			// process's creds are also read for other processes
			// (RLIMIT_NPROC counts a uid's processes).
			t.proc.mu.Lock()
			t.proc.creds = creds{uid: ids.ruid, gid: ids.rgid, euid: ids.euid, egid: ids.egid}
			t.proc.mu.Unlock()
		} else {
			t.refreshCreds()
		}
	}
	return ret, errno
}

// call performs one round trip on behalf of t, marking it interruptible.
// The session hides server failures (the call waits for the recovery); an
// error means the application is over or could not be recovered.
func (t *task) call(c *pb.Call) (*pb.Reply, error) {
	return t.callPending(&pending{call: c})
}

// callSyscall is call for a system call newSessionCall made.
func (t *task) callSyscall(sc *sessionCall) (*pb.Reply, error) {
	return t.callPending(&sc.pending)
}

// callPending is call of p.call, p its in-flight record (remoteSession's
// call).
func (t *task) callPending(p *pending) (*pb.Reply, error) {
	c := p.call
	t.mu.Lock()
	t.state = stateForwarding
	t.interruptSent = false
	t.callGen++
	t.markWaitCallLocked(c)
	if t.missedNotifyLocked() {
		// A notify after forwardCall's check found no call to
		// interrupt: this one is (the server drops an Interrupt that
		// overtakes its call; sendInterrupt repeats it).
		t.notifyLocked()
	}
	t.mu.Unlock()
	start := cpuNow()
	reply, err := t.c.conn.call(t.c.ctx, p)
	t.waited(start)
	t.waitedSeq = c.Seq
	t.setState(stateKernel)
	if err != nil {
		if !errors.Is(err, transport.ErrConnDead) && !errors.Is(err, errClosed) && !t.c.isExited() {
			t.c.log.Error("forwarded call failed", "tid", t.tid, "err", err)
		}
		t.kill()
		return nil, err
	}
	return reply, nil
}

// forwardInternal sends a call the client makes on its own behalf; its
// outputs are not copied into application memory. Actions in the reply
// (an exit) are applied.
func (t *task) forwardInternal(sysno uintptr, args [6]uint64, inputs []*pb.Region) *pb.Reply {
	reply, err := t.call(&pb.Call{Tid: t.tid, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{
		Sysno: int32(sysno), Args: args[:], Inputs: inputs,
	}}})
	if err != nil {
		return nil
	}
	if t.c.cfg.Strace {
		t.strace(sysno, args, uint64(reply.Ret), unix.Errno(reply.Errno), false)
	}
	if ex := reply.GetExit(); ex != nil {
		t.applyExit(ex)
	}
	return reply
}

// applyExit ends the thread or its process as the server decided.
func (t *task) applyExit(ex *pb.ExitAction) {
	t.noReturn = true
	if ex.AppExit {
		t.c.appExit(int(ex.WaitStatus))
	}
	if ex.Group {
		t.exitGroup()
	} else {
		t.kill()
	}
}

func sysName(sysno uintptr) string { return sysabi.Name(sysno) }

// strace logs one system call like runsc --strace: paths and written
// data of forwarded calls are shown as strings.
func (t *task) strace(sysno uintptr, args [6]uint64, ret uint64, errno unix.Errno, local bool) {
	var b strings.Builder
	var inputs []sysabi.Region
	if !local {
		inputs = sysabi.Inputs(sysno, args, appMemory{t})
	}
	b.WriteString(sysabi.Format(sysno, args, inputs))
	b.WriteString(" = ")
	switch {
	case t.noReturn:
		b.WriteString("?")
	case errno != 0:
		fmt.Fprintf(&b, "-1 %s (%s)", errnoName(errno), errno.Error())
	default:
		fmt.Fprintf(&b, "%d (%#x)", int64(ret), ret)
	}
	where := "forwarded"
	if t.posted {
		where = "posted"
	}
	if t.cached {
		where = "cached"
	}
	if t.unsent {
		where = "unsent"
	}
	if local && !t.forwarded {
		// A local handler may forward what it cannot answer.
		where = "local"
	}
	attrs := []any{"tid", t.tid, "where", where}
	if t.waitedNS > 0 {
		// How long the call waited for the server, as strace -T shows a
		// call's time: what a slow run's waits are made of. The seq
		// names the server's --strace line of the call (its took=: the
		// rest is the hop and the queue).
		attrs = append(attrs, "waited", time.Duration(t.waitedNS), "seq", t.waitedSeq)
	}
	t.c.log.Info(b.String(), attrs...)
}

func errnoName(e unix.Errno) string {
	switch e {
	case errRestartSys:
		return "ERESTARTSYS"
	case errRestartNoIntr:
		return "ERESTARTNOINTR"
	case errRestartNoHand:
		return "ERESTARTNOHAND"
	case errRestartRestartBlock:
		return "ERESTART_RESTARTBLOCK"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

func isCredChange(sysno uintptr) bool {
	switch sysno {
	case unix.SYS_SETUID, unix.SYS_SETGID, unix.SYS_SETREUID, unix.SYS_SETREGID,
		unix.SYS_SETRESUID, unix.SYS_SETRESGID, unix.SYS_SETFSUID, unix.SYS_SETFSGID:
		return true
	}
	return false
}

// refreshCreds asks the server for the process's credentials after a
// forwarded set*id call, so that the local getuid family stays right.
func (t *task) refreshCreds() {
	get := func(sysno uintptr) (r, e uint32, ok bool) {
		reply := t.forwardInternal(sysno, [6]uint64{scratchAddr, scratchAddr + 4, scratchAddr + 8}, nil)
		if reply == nil || reply.Errno != 0 {
			return 0, 0, false
		}
		var buf [12]byte
		for _, o := range reply.Outputs {
			if o.Addr >= scratchAddr && o.Addr < scratchAddr+12 {
				copy(buf[o.Addr-scratchAddr:], o.Data)
			}
		}
		return le32(buf[0:]), le32(buf[4:]), true
	}
	uid, euid, ok1 := get(unix.SYS_GETRESUID)
	gid, egid, ok2 := get(unix.SYS_GETRESGID)
	t.proc.mu.Lock()
	old := t.proc.creds
	if ok1 {
		t.proc.creds.uid, t.proc.creds.euid = uid, euid
	}
	if ok2 {
		t.proc.creds.gid, t.proc.creds.egid = gid, egid
	}
	if t.proc.creds.euid != old.euid || t.proc.creds.egid != old.egid {
		// Linux's commit_creds: a process whose effective ids changed
		// takes suid_dumpable (0): no core.
		t.proc.dumpable = 0
	}
	t.proc.mu.Unlock()
}
