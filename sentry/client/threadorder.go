package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Answers for a process with several threads (docs/COMPATIBILITY.md,
// "Pipelined calls").
//
// The client answers a call, or posts it, from what it knows of the
// server's state after the calls sent before it. With one thread those
// are all of the process's calls that could matter. With several,
// another thread's call sent earlier may still be running, or not yet
// begun, on the server when this one is answered: the server runs a call
// a thread waits on only after the posted calls sent before it, not the
// other way round. So a thread of such a process answers or posts only
// when no call of another thread in flight could change what the answer
// rests on:
//
//   - the fd's identity: close, close_range, dup2, dup3 and execve
//     (process.fdRemovals);
//   - a description's offset: the read, write, lseek, getdents, sendfile,
//     copy_file_range and splice calls naming it (process.offsetCalls);
//   - for a posted open, creation or mkdir, any call but the neutral
//     ones below (lockOpenOrder): one making an fd could take the number
//     the open picks, one renaming or removing could change what its
//     path names, a chdir or umask what it makes;
//   - for a posted close or write behind, any call but those known to
//     leave the fd table alone and to name no fd but one other than the
//     closed or written one (neutralCall: a read or write, an epoll wait,
//     a wait for a child; process.otherCalls, fdCalls): a call naming
//     the fd could find it closed, one making an fd could take its
//     number, an mmap, ftruncate or setrlimit could change what the
//     write does. Such a call is marked Syscall.after_posted, so the
//     server runs it after the posted calls sent before it (another
//     thread's F_SETFL, lseek or write of the fd).
//
// Every call such a process posts is so marked (the session's post): the
// server runs each thread's calls in order on the thread's own worker,
// and without the mark a posted call of one thread could run before a
// posted call another thread sent first (a posted lseek of a read the
// cache answered, or an F_SETFL, of the fd a posted open makes, which
// then failed with EBADF or moved the fd's previous description).
//
// Those calls are counted under process.callOrder from before their seq
// is drawn until their reply is folded. The answering thread holds
// callOrder from its check until it has posted what it posts: a call
// counted after the check draws a higher seq, and runs on the server
// after what was posted.

// removesFDs are the calls that may close or replace an fd of the
// caller's table.
var removesFDs = map[uintptr]bool{
	unix.SYS_CLOSE: true, unix.SYS_CLOSE_RANGE: true, unix.SYS_DUP2: true, unix.SYS_DUP3: true,
	unix.SYS_EXECVE: true, unix.SYS_EXECVEAT: true,
}

// offsetFDArgs are, for the calls that may use or move a description's
// offset, the indexes of the arguments that are such an fd.
var offsetFDArgs = map[uintptr][]int{
	unix.SYS_READ: {0}, unix.SYS_READV: {0}, unix.SYS_PREADV2: {0},
	unix.SYS_WRITE: {0}, unix.SYS_WRITEV: {0}, unix.SYS_PWRITEV2: {0},
	unix.SYS_LSEEK: {0}, unix.SYS_GETDENTS: {0}, unix.SYS_GETDENTS64: {0},
	unix.SYS_SENDFILE: {0, 1}, unix.SYS_COPY_FILE_RANGE: {0, 2}, unix.SYS_SPLICE: {0, 2},
}

// neutralFDArg are the calls that leave the fd table alone and name one
// fd, their first argument (a negative one, AT_FDCWD: none).
var neutralFDArg = map[uintptr]bool{
	unix.SYS_READ: true, unix.SYS_READV: true, unix.SYS_PREAD64: true, unix.SYS_PREADV: true, unix.SYS_PREADV2: true,
	unix.SYS_WRITE: true, unix.SYS_WRITEV: true, unix.SYS_PWRITE64: true, unix.SYS_PWRITEV: true, unix.SYS_PWRITEV2: true,
	unix.SYS_RECVFROM: true, unix.SYS_SENDTO: true, unix.SYS_CONNECT: true, unix.SYS_SHUTDOWN: true,
	unix.SYS_GETSOCKOPT: true, unix.SYS_SETSOCKOPT: true, unix.SYS_GETSOCKNAME: true, unix.SYS_GETPEERNAME: true,
	unix.SYS_EPOLL_WAIT: true, unix.SYS_EPOLL_PWAIT: true, unix.SYS_EPOLL_PWAIT2: true,
	unix.SYS_FSTAT: true, unix.SYS_NEWFSTATAT: true, unix.SYS_STATX: true, unix.SYS_FACCESSAT: true,
	unix.SYS_FACCESSAT2: true, unix.SYS_READLINKAT: true, unix.SYS_LSEEK: true, unix.SYS_GETDENTS64: true,
	unix.SYS_FSYNC: true, unix.SYS_FDATASYNC: true,
}

// neutralNoFD are the calls that leave the fd table alone and name no fd
// (waitid's P_PIDFD excepted: neutralCall).
var neutralNoFD = map[uintptr]bool{
	unix.SYS_WAIT4: true, unix.SYS_WAITID: true, unix.SYS_NANOSLEEP: true, unix.SYS_CLOCK_NANOSLEEP: true,
	unix.SYS_FUTEX: true, unix.SYS_SCHED_YIELD: true, unix.SYS_PAUSE: true, unix.SYS_RT_SIGSUSPEND: true,
	unix.SYS_RT_SIGTIMEDWAIT: true, unix.SYS_EXIT: true, unix.SYS_GETPID: true, unix.SYS_GETPPID: true,
	unix.SYS_STAT: true, unix.SYS_LSTAT: true, unix.SYS_ACCESS: true, unix.SYS_READLINK: true,
}

// pPIDFD is waitid's idtype P_PIDFD, whose id is an fd.
const pPIDFD = 3

// neutralCall says whether call sysno(args) leaves the fd table alone,
// and which fd it names (-1: none).
func neutralCall(sysno uintptr, args [6]uint64) (fd int32, ok bool) {
	switch {
	case neutralFDArg[sysno]:
		return namedFD(args[0]), true
	case sysno == unix.SYS_WAITID && args[0] == pPIDFD:
		// A wait for a child through its pidfd (Go's os/exec since
		// 1.23: the go command waits so for each compile) names that
		// fd, its second argument: a close of it waits for the wait.
		return namedFD(args[1]), true
	case neutralNoFD[sysno]:
		return -1, true
	}
	return -1, false
}

// namedFD is the fd an argument names (-1: none, a negative one such as
// AT_FDCWD).
func namedFD(arg uint64) int32 {
	if fd := int32(arg); fd >= 0 {
		return fd
	}
	return -1
}

// orderedCall is what beginOrdered counted of a call, for endOrdered.
type orderedCall struct {
	removal bool
	// other says the call is not neutral (neutralCall); fd is the fd a
	// neutral one names (-1: none).
	other bool
	fd    int32
	// descs are the descriptions whose offset the call may move (at
	// most two).
	descs [2]uint64
	n     int
	// alone says no other call that may move descs[0]'s offset was in
	// flight when this one was counted; begun is its number among
	// those begun on descs[0] (process.offsetBegun), so that one begun
	// since shows (aloneOnOffset).
	alone bool
	begun uint64
}

// beginOrdered counts call sysno(args) of t, of a process with several
// threads; it reports whether it counted it (then endOrdered must follow
// the folding of its reply).
func (t *task) beginOrdered(sysno uintptr, args [6]uint64) (orderedCall, bool) {
	if t.singleThreaded() {
		// With one thread no other call is in flight: the thread
		// that could add one is this one.
		return orderedCall{}, false
	}
	oc := orderedCall{removal: removesFDs[sysno], fd: -1}
	if !t.threadedPosting() {
		// Only a posted F_SETFL asks, and only about removals.
		if !oc.removal {
			return orderedCall{}, false
		}
		p := t.proc
		p.callOrder.Lock()
		p.fdRemovals++
		p.callOrder.Unlock()
		return oc, true
	}
	fd, neutral := neutralCall(sysno, args)
	oc.other, oc.fd = !neutral, fd
	for _, i := range offsetFDArgs[sysno] {
		if desc, ok := t.c.ids.descriptionOf(t.proc.pid, int32(args[i])); ok {
			oc.descs[oc.n] = desc
			oc.n++
		}
	}
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	if oc.removal {
		p.fdRemovals++
	}
	for i, d := range oc.descs[:oc.n] {
		if p.offsetCalls == nil {
			p.offsetCalls = make(map[uint64]int)
			p.offsetBegun = make(map[uint64]uint64)
		}
		p.offsetCalls[d]++
		p.offsetBegun[d]++
		if i == 0 {
			oc.alone, oc.begun = p.offsetCalls[d] == 1, p.offsetBegun[d]
		}
	}
	switch {
	case oc.other:
		p.otherCalls++
	case oc.fd >= 0:
		if p.fdCalls == nil {
			p.fdCalls = make(map[int32]int)
		}
		p.fdCalls[oc.fd]++
	}
	return oc, true
}

// endOrdered uncounts what beginOrdered counted.
func (t *task) endOrdered(p *process, oc orderedCall) {
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	if oc.removal {
		p.fdRemovals--
	}
	for _, d := range oc.descs[:oc.n] {
		if p.offsetCalls[d]--; p.offsetCalls[d] <= 0 {
			delete(p.offsetCalls, d)
			delete(p.offsetBegun, d)
		}
	}
	switch {
	case oc.other:
		p.otherCalls--
	case oc.fd >= 0:
		if p.fdCalls[oc.fd]--; p.fdCalls[oc.fd] <= 0 {
			delete(p.fdCalls, oc.fd)
		}
	}
}

// aloneOnOffsetLocked says that call oc, counted and still in flight,
// is the only call of p that may have moved the offset of desc, its
// first description, since it was counted: none was in flight then,
// and none began since (a call another thread sent meanwhile may run
// before or after it on the server). Precondition: p.callOrder is held.
func (p *process) aloneOnOffsetLocked(oc orderedCall, desc uint64) bool {
	return oc.n > 0 && oc.descs[0] == desc && oc.alone && p.offsetBegun[desc] == oc.begun
}

// othersQuietLocked says that no call of another thread of p in flight
// may remove an fd or, when offset is set, move description desc's
// offset. Precondition: p.callOrder is held.
func (p *process) othersQuietLocked(desc uint64, offset bool) bool {
	return p.fdRemovals == 0 && (!offset || p.offsetCalls[desc] == 0)
}

// threadedPosting says whether t, of a process with several threads, may
// use the read cache and post closes, opens and writes behind
// (but with Config.NoThreadedPosting).
func (t *task) threadedPosting() bool { return !t.c.cfg.NoThreadedPosting }

// othersAllowOpenLocked says that every call of another thread of p in
// flight is neutral: none makes an fd, which could take the number a
// posted open picks, or changes what a path names. Precondition:
// p.callOrder is held.
func (p *process) othersAllowOpenLocked() bool {
	return p.otherCalls == 0
}

// lockOpenOrder is the thread check of a call that picks an fd or makes
// a name (a posted open, creation or mkdir): with one thread it takes
// nothing and allows; with several it allows while the server runs
// posted calls in the order sent (FeatureAfterPosted), the
// configuration lets such a process post opens, and every other
// thread's call in flight is neutral (othersAllowOpenLocked), and then
// holds p.callOrder, which the caller releases (p.unlockOrder) once it
// has posted what it posts.
func (t *task) lockOpenOrder() (p *process, ok bool) {
	return t.lockNeutralOthers(!t.c.cfg.NoThreadedOpens)
}

// lockNeutralOthers is lockOpenOrder for a posted call the configuration
// allows (allowed) in a process of several threads: a metadata call's
// (metapipe.go) too.
func (t *task) lockNeutralOthers(allowed bool) (p *process, ok bool) {
	if t.singleThreaded() {
		return nil, true
	}
	if !allowed || !t.threadedPosting() || !t.c.conn.serverHas(pb.FeatureAfterPosted) {
		return nil, false
	}
	p = t.proc
	p.callOrder.Lock()
	if !p.othersAllowOpenLocked() {
		p.callOrder.Unlock()
		return nil, false
	}
	return p, true
}

// unlockOrder releases the callOrder lockOpenOrder or lockNeutralOthers
// took (nothing for a nil p: one thread, nothing taken).
func (p *process) unlockOrder() {
	if p != nil {
		p.callOrder.Unlock()
	}
}

// othersAllowCloseLocked says that every call of another thread of p in
// flight is neutral and names no fd fd. Precondition: p.callOrder is
// held.
func (p *process) othersAllowCloseLocked(fd int32) bool {
	return p.otherCalls == 0 && p.fdCalls[fd] == 0
}

// othersAllowWriteLocked is othersAllowCloseLocked for a write or
// truncation behind through fd, description desc: no other thread's call
// in flight moves desc's offset either (an owned copy's offset is where
// the write lands). Precondition: p.callOrder is held.
func (p *process) othersAllowWriteLocked(fd int32, desc uint64) bool {
	return p.othersAllowCloseLocked(fd) && p.offsetCalls[desc] == 0
}

// inPostOrder runs post, which checks and posts a close, a write or a
// truncation behind: at once in a process of one thread (threaded
// false); in one of several, while the server runs posted calls in the
// order sent (FeatureAfterPosted) and the configuration lets such a
// process post, holding p.callOrder (threaded true: post checks the
// other threads' calls in flight). It reports what post did, false if
// the threads forbid the post.
func (t *task) inPostOrder(post func(threaded bool) bool) bool {
	if t.singleThreaded() {
		return post(false)
	}
	if !t.threadedPosting() || !t.c.conn.serverHas(pb.FeatureAfterPosted) {
		return false
	}
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	return post(true)
}

// orderedCachedRead, orderedCachedFstat and orderedCachedLseek are
// cachedRead, cachedFstat and cachedLseek holding t.proc.callOrder
// through the answer and its posted offset move.
func (t *task) orderedCachedRead(sysno uintptr, args [6]uint64) (uint64, bool) {
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	return t.cachedRead(sysno, args)
}

func (t *task) orderedCachedFstat(sysno uintptr, args [6]uint64) bool {
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	return t.cachedFstat(sysno, args)
}

func (t *task) orderedCachedLseek(args [6]uint64) (uint64, bool) {
	p := t.proc
	p.callOrder.Lock()
	defer p.callOrder.Unlock()
	return t.cachedLseek(args)
}
