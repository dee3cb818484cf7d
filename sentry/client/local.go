package client

import (
	"errors"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	gverrors "gvisor.dev/gvisor/pkg/errors"
	"gvisor.dev/gvisor/pkg/errors/linuxerr"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/limits"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/mm"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// toErrno converts an error from gVisor's packages to an errno.
func toErrno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var ge *gverrors.Error
	if errors.As(err, &ge) {
		return linuxerr.ToUnix(ge)
	}
	var ue unix.Errno
	if errors.As(err, &ue) {
		return ue
	}
	return unix.EFAULT
}

// Memory.

func sysBrk(t *task, a [6]uint64) (uint64, unix.Errno) {
	addr, _ := t.mm.Brk(t.gctx, hostarch.Addr(a[0]))
	return uint64(addr), 0
}

func protPerms(prot uint64) hostarch.AccessType {
	return hostarch.AccessType{
		Read:    prot&linux.PROT_READ != 0,
		Write:   prot&linux.PROT_WRITE != 0,
		Execute: prot&linux.PROT_EXEC != 0,
	}
}

// mmapOpts decodes mmap(2)'s arguments (Linux's sys_mmap checks).
func mmapOpts(a [6]uint64) (memmap.MMapOpts, bool, unix.Errno) {
	prot, flags := a[2], a[3]
	fixed := flags&linux.MAP_FIXED != 0
	noReplace := flags&linux.MAP_FIXED_NOREPLACE != 0
	var shared bool
	switch flags & 3 {
	case linux.MAP_SHARED, linux.MAP_SHARED | linux.MAP_PRIVATE: // MAP_SHARED_VALIDATE
		shared = true
	case linux.MAP_PRIVATE:
	default:
		return memmap.MMapOpts{}, false, unix.EINVAL
	}
	opts := memmap.MMapOpts{
		Length:    a[1],
		Offset:    a[5],
		Addr:      hostarch.Addr(a[0]),
		Fixed:     fixed || noReplace,
		Unmap:     fixed && !noReplace,
		NoReplace: noReplace,
		Map32Bit:  flags&linux.MAP_32BIT != 0,
		Private:   !shared,
		Perms:     protPerms(prot),
		MaxPerms:  hostarch.AnyAccess,
		GrowsDown: flags&linux.MAP_GROWSDOWN != 0,
		Stack:     flags&linux.MAP_STACK != 0,
	}
	if flags&linux.MAP_POPULATE != 0 {
		opts.PlatformEffect = memmap.PlatformEffectCommit
	}
	if flags&linux.MAP_LOCKED != 0 {
		// Linux populates a locked mapping as MAP_POPULATE does (do_mmap:
		// VM_LOCKED sets populate); mm only maps its pmas, leaving the
		// pages uncommitted (not resident to mincore) until touched.
		opts.MLockMode = memmap.MLockEager
		opts.PlatformEffect = memmap.PlatformEffectCommit
	}
	return opts, shared, 0
}

// legacyMapFlags are Linux's LEGACY_MAP_MASK (include/linux/mman.h, with
// x86's MAP_32BIT and MAP_ABOVE4G): the flags MAP_SHARED_VALIDATE takes on
// a file; any other is EOPNOTSUPP (MAP_SYNC too: no file here is DAX).
const legacyMapFlags = linux.MAP_SHARED | linux.MAP_PRIVATE | linux.MAP_FIXED | linux.MAP_ANONYMOUS |
	linux.MAP_32BIT | 0x80 /* MAP_ABOVE4G */ | linux.MAP_GROWSDOWN | linux.MAP_DENYWRITE | linux.MAP_EXECUTABLE |
	linux.MAP_LOCKED | linux.MAP_NORESERVE | linux.MAP_POPULATE | linux.MAP_NONBLOCK | linux.MAP_STACK |
	linux.MAP_HUGETLB | 0x4000000 /* MAP_UNINITIALIZED */ | 21<<26 /* MAP_HUGE_2MB */ | 30<<26 /* MAP_HUGE_1GB */

// mapSharedValidate is MAP_SHARED_VALIDATE's type.
const mapSharedValidate = linux.MAP_SHARED | linux.MAP_PRIVATE

func sysMmap(t *task, a [6]uint64) (uint64, unix.Errno) {
	addr, errno := mmapNew(t, a)
	if errno == 0 {
		// A new mapping is dumped whatever the old one's advice.
		if ar, ok := hostarch.Addr(addr).ToRange(a[1]); ok {
			t.proc.clearDontDump(ar)
		}
	}
	return addr, errno
}

// mmapNew is mmap(2) itself.
func mmapNew(t *task, a [6]uint64) (uint64, unix.Errno) {
	opts, shared, errno := mmapOpts(a)
	if errno != 0 {
		return 0, errno
	}
	if a[3]&3 == mapSharedValidate && a[3]&linux.MAP_ANONYMOUS != 0 {
		// Linux takes MAP_SHARED_VALIDATE of files only.
		return 0, unix.EINVAL
	}
	if a[3]&linux.MAP_ANONYMOUS == 0 {
		// A private mapping of a leased file whose plan the client
		// keeps needs no call (mmapreuse.go).
		if addr, errno, ok := t.reusedMmap(a); ok {
			return addr, errno
		}
		// The server resolves the fd; the reply's MmapPlan is mapped by
		// applyMmap.
		return t.forwardMmap(a)
	}
	return t.mmapAnonymous(opts, shared)
}

// mmapAnonymous maps anonymous memory (MAP_ANONYMOUS, or /dev/zero).
func (t *task) mmapAnonymous(opts memmap.MMapOpts, shared bool) (uint64, unix.Errno) {
	opts.Offset = 0
	opts.NameMut = memmap.NameMutAnon
	if shared {
		if opts.Length == 0 {
			return 0, unix.EINVAL
		}
		m := newAnonShared(t.c, opts.Length)
		defer m.DecRef(t.gctx)
		opts.Mappable = m
		opts.MappingIdentity = m
		opts.NameMut = memmap.NameMutAnonShmem
	}
	addr, err := t.mm.MMap(t.gctx, opts)
	if err != nil {
		return 0, toErrno(err)
	}
	return uint64(addr), 0
}

// applyMmap maps a server file the reply to a forwarded mmap resolved.
func (t *task) applyMmap(a [6]uint64, plan interface {
	GetFileId() uint64
	GetFileSize() uint64
	GetFileGen() uint64
	GetFileData() []byte
	GetWritable() bool
	GetAnonymous() bool
}) (uint64, unix.Errno) {
	opts, shared, errno := mmapOpts(a)
	if errno != 0 {
		return 0, errno
	}
	// After the server found the fd, as Linux checks after fget.
	if a[3]&linux.MAP_HUGETLB != 0 {
		// No file here is on hugetlbfs.
		return 0, unix.EINVAL
	}
	if a[3]&3 == mapSharedValidate && a[3]&^legacyMapFlags != 0 {
		return 0, unix.EOPNOTSUPP
	}
	if hostarch.Addr(opts.Offset).RoundDown() != hostarch.Addr(opts.Offset) {
		return 0, unix.EINVAL
	}
	if shared && !plan.GetWritable() {
		if opts.Perms.Write {
			return 0, unix.EACCES
		}
		opts.MaxPerms.Write = false
	}
	if plan.GetAnonymous() {
		// /dev/zero: anonymous memory, as Linux maps it.
		return t.mmapAnonymous(opts, shared)
	}
	f := t.c.files.get(t.gctx, plan.GetFileId(), plan.GetFileSize(), plan.GetFileGen(), "", plan.GetFileData())
	defer f.DecRef(t.gctx)
	if opts.Perms.Execute {
		f.markCode()
	}
	opts.Mappable = f
	opts.MappingIdentity = f
	addr, err := t.mm.MMap(t.gctx, opts)
	if err != nil {
		return 0, toErrno(err)
	}
	t.mmapPlanned = mmapPlan{fileID: plan.GetFileId(), size: plan.GetFileSize(), gen: plan.GetFileGen()}
	return uint64(addr), 0
}

func sysMunmap(t *task, a [6]uint64) (uint64, unix.Errno) {
	if err := t.mm.MUnmap(t.gctx, hostarch.Addr(a[0]), a[1]); err != nil {
		return 0, toErrno(err)
	}
	if ar, ok := hostarch.Addr(a[0]).ToRange(a[1]); ok {
		t.proc.clearDontDump(ar)
	}
	return 0, 0
}

func sysMprotect(t *task, a [6]uint64) (uint64, unix.Errno) {
	prot := a[2]
	if prot&^(linux.PROT_READ|linux.PROT_WRITE|linux.PROT_EXEC|linux.PROT_GROWSDOWN) != 0 {
		return 0, unix.EINVAL
	}
	return 0, toErrno(t.mm.MProtect(hostarch.Addr(a[0]), a[1], protPerms(prot), prot&linux.PROT_GROWSDOWN != 0))
}

func sysMremap(t *task, a [6]uint64) (uint64, unix.Errno) {
	oldAddr, oldSize, newSize, flags, newAddr := a[0], a[1], a[2], a[3], a[4]
	if flags&^(linux.MREMAP_MAYMOVE|linux.MREMAP_FIXED) != 0 {
		return 0, unix.EINVAL
	}
	mayMove := flags&linux.MREMAP_MAYMOVE != 0
	fixed := flags&linux.MREMAP_FIXED != 0
	var move mm.MRemapMoveMode
	switch {
	case !mayMove && !fixed:
		move = mm.MRemapNoMove
	case mayMove && !fixed:
		move = mm.MRemapMayMove
	case mayMove && fixed:
		move = mm.MRemapMustMove
	default:
		return 0, unix.EINVAL
	}
	addr, err := t.mm.MRemap(t.gctx, hostarch.Addr(oldAddr), oldSize, newSize, mm.MRemapOpts{Move: move, NewAddr: hostarch.Addr(newAddr)})
	if err != nil {
		return 0, toErrno(err)
	}
	return uint64(addr), 0
}

func sysMsync(t *task, a [6]uint64) (uint64, unix.Errno) {
	addr, flags := hostarch.Addr(a[0]), a[2]
	if addr.RoundDown() != addr {
		return 0, unix.EINVAL
	}
	if flags&^(linux.MS_ASYNC|linux.MS_SYNC|linux.MS_INVALIDATE) != 0 ||
		flags&linux.MS_ASYNC != 0 && flags&linux.MS_SYNC != 0 {
		return 0, unix.EINVAL
	}
	// MS_SYNC writes the range's dirty pages back and waits for the
	// server; MS_ASYNC only checks the range and starts the flusher.
	sync := flags&linux.MS_SYNC != 0
	if err := t.mm.MSync(t.gctx, addr, a[1], mm.MSyncOpts{Sync: sync, Invalidate: flags&linux.MS_INVALIDATE != 0}); err != nil {
		// mm's own errors (ENOMEM, EBUSY, ...) are gVisor errors; a
		// failed write-back is EIO, as on Linux.
		if ge := (*gverrors.Error)(nil); errors.As(err, &ge) {
			return 0, toErrno(err)
		}
		t.c.log.Debug("msync write-back failed", "err", err)
		return 0, unix.EIO
	}
	if !sync && t.c.files.pending() {
		select {
		case t.c.files.kick <- struct{}{}:
		default:
		}
	}
	return 0, 0
}

func sysMincore(t *task, a [6]uint64) (uint64, unix.Errno) {
	addr, length, vec := hostarch.Addr(a[0]), a[1], a[2]
	if addr.RoundDown() != addr {
		return 0, unix.EINVAL
	}
	// Length is rounded up to whole pages (mincore(2)).
	la, ok := hostarch.Addr(length).RoundUp()
	if !ok {
		return 0, unix.ENOMEM
	}
	ar, ok := addr.ToRange(uint64(la))
	if !ok {
		return 0, unix.ENOMEM
	}
	// "ENOMEM: addr to addr + length contained unmapped memory": gnulib's
	// stack probe relies on it to find the end of the stack.
	if t.mm.VirtualMemorySizeRange(ar) != uint64(la) {
		return 0, unix.ENOMEM
	}
	// The residency of each page (mincore.go), computed and written out
	// in chunks so that a huge mapping needs no huge buffer. The client
	// failing to learn it is EAGAIN, Linux's "temporarily out of
	// resources", not ENOMEM, which says the range is unmapped.
	snap, err := newMincoreSnapshot(t.gctx, t.mm, t.c.mf, &t.c.mapIndex)
	if err != nil {
		t.c.log.Error("mincore: reading the address space's pmas failed", "err", err)
		return 0, unix.EAGAIN
	}
	const chunk = 1 << 16
	buf := make([]byte, min(uint64(la)/hostarch.PageSize, chunk))
	for start := addr; start < ar.End; {
		n := min(uint64(ar.End-start)/hostarch.PageSize, chunk)
		v := buf[:n]
		clear(v)
		end := start + hostarch.Addr(n*hostarch.PageSize)
		if err := snap.resident(hostarch.AddrRange{Start: start, End: end}, v); err != nil {
			t.c.log.Error("mincore: asking the memory file failed", "err", err)
			return 0, unix.EAGAIN
		}
		if err := t.copyOut(vec, v); err != 0 {
			return 0, err
		}
		vec += n
		start = end
	}
	return 0, 0
}

func sysArchPrctl(t *task, a [6]uint64) (uint64, unix.Errno) {
	code, addr := a[0], a[1]
	regs := &t.ac.StateData().Regs
	switch code {
	case linux.ARCH_SET_FS:
		if !t.ac.SetTLS(uintptr(addr)) {
			return 0, unix.EPERM
		}
	case linux.ARCH_GET_FS:
		return 0, t.writeUint64(addr, uint64(t.ac.TLS()))
	case linux.ARCH_SET_GS:
		if addr >= uint64(t.c.plat.MaxUserAddress()) {
			return 0, unix.EPERM
		}
		regs.Gs_base = addr
	case linux.ARCH_GET_GS:
		return 0, t.writeUint64(addr, regs.Gs_base)
	default:
		return 0, unix.EINVAL
	}
	return 0, 0
}

func sysSetTidAddress(t *task, a [6]uint64) (uint64, unix.Errno) {
	t.clearTID = hostarch.Addr(a[0])
	return uint64(t.tid), 0
}

func sysSetRobustList(t *task, a [6]uint64) (uint64, unix.Errno) {
	if a[1] != 24 { // sizeof(struct robust_list_head)
		return 0, unix.EINVAL
	}
	t.robustList.Store(a[0])
	return 0, 0
}

// sysGetRobustList implements get_robust_list(2): the thread pid names
// (ESRCH if none), if the caller may read its state as ptrace's
// PTRACE_MODE_READ_REALCREDS (else EPERM).
func sysGetRobustList(t *task, a [6]uint64) (uint64, unix.Errno) {
	target := t
	if pid := int32(a[0]); pid != 0 {
		if target = t.otherThread(pid); target == nil {
			return 0, unix.ESRCH
		}
		if target.proc != t.proc && !t.mayReadState(target) {
			return 0, unix.EPERM
		}
	}
	if err := t.writeUint64(a[2], 24); err != 0 {
		return 0, err
	}
	return 0, t.writeUint64(a[1], target.robustList.Load())
}

// capSysPtrace is CAP_SYS_PTRACE's bit.
const capSysPtrace = 1 << linux.CAP_SYS_PTRACE

// mayReadState is ptrace's access check with the real credentials
// (Linux's PTRACE_MODE_READ_REALCREDS, without Yama): t's real user and
// group are all of target's, or t has CAP_SYS_PTRACE; from the
// processes' last records (t's effective uid 0 stands for the capability
// when its record has not come, and both are allowed when target's has
// not).
func (t *task) mayReadState(target *task) bool {
	me, meOK := t.c.ids.get(t.proc.pid)
	them, themOK := t.c.ids.get(target.proc.pid)
	if meOK && me.capsKnown && me.capEff&capSysPtrace != 0 || !meOK && t.creds().euid == 0 {
		return true
	}
	if !meOK || !themOK {
		return !themOK
	}
	return me.ruid == them.ruid && me.ruid == them.euid && me.ruid == them.suid &&
		me.rgid == them.rgid && me.rgid == them.egid && me.rgid == them.sgid
}

// Time.

func sysClockGettime(t *task, a [6]uint64) (uint64, unix.Errno) {
	if d, ok := t.cpuClockNow(int32(a[0])); ok {
		return 0, t.writeTimespec(a[1], d)
	}
	now, ok := clockNow(int32(a[0]))
	if !ok {
		return 0, unix.EINVAL
	}
	return 0, t.writeTimespec(a[1], now)
}

func sysClockGetres(t *task, a [6]uint64) (uint64, unix.Errno) {
	if _, ok := t.cpuClockNow(int32(a[0])); ok {
		if a[1] == 0 {
			return 0, 0
		}
		return 0, t.writeTimespec(a[1], time.Nanosecond)
	}
	if _, ok := clockNow(int32(a[0])); !ok {
		return 0, unix.EINVAL
	}
	if a[1] == 0 {
		return 0, 0
	}
	return 0, t.writeTimespec(a[1], time.Nanosecond)
}

func sysGettimeofday(t *task, a [6]uint64) (uint64, unix.Errno) {
	if a[0] != 0 {
		// CLOCK_REALTIME, the vDSO's gettimeofday's clock.
		now, _ := clockNow(linux.CLOCK_REALTIME)
		var b [16]byte
		hostarch.ByteOrder.PutUint64(b[:], uint64(now/time.Second))
		hostarch.ByteOrder.PutUint64(b[8:], uint64(now%time.Second/time.Microsecond))
		if err := t.copyOut(a[0], b[:]); err != 0 {
			return 0, err
		}
	}
	if a[1] != 0 {
		var tz [8]byte
		if err := t.copyOut(a[1], tz[:]); err != 0 {
			return 0, err
		}
	}
	return 0, 0
}

func sysTime(t *task, a [6]uint64) (uint64, unix.Errno) {
	rt, _ := clockNow(linux.CLOCK_REALTIME)
	now := uint64(rt / time.Second)
	if a[0] != 0 {
		if err := t.writeUint64(a[0], now); err != 0 {
			return 0, err
		}
	}
	return now, 0
}

// sleepUntil sleeps until clock clk reads at least at, or an
// interruption. The host timer that wakes it is armed from the two
// clocks' difference now; when it fires before clk reads at (the
// calibrated clock runs a few parts per million off the host's), the
// sleep goes on, so that no read of clk (the vDSO's included) after it
// returns is before at. A CPU-time clock sleeps the wall time. On
// interruption it arms a restart block that continues the same sleep.
func (t *task) sleepUntil(clk int32, at time.Duration, remAddr uint64) (uint64, unix.Errno) {
	for {
		switch t.blockOn(nil, hostDeadline(clk, at)) {
		case errTimedOut, nil:
			if clockReached(clk, at) {
				return 0, 0
			}
			continue
		}
		break
	}
	if remAddr != 0 {
		now, _ := clockNow(clk)
		rem := max(at-now, 0)
		if err := t.writeTimespec(remAddr, rem); err != 0 {
			return 0, err
		}
	}
	t.restartBlock = func(t *task) (uint64, unix.Errno) { return t.sleepUntil(clk, at, remAddr) }
	return 0, errRestartRestartBlock
}

func sysNanosleep(t *task, a [6]uint64) (uint64, unix.Errno) {
	d, err := t.readTimespec(a[0])
	if err != 0 {
		return 0, err
	}
	if d < 0 {
		return 0, unix.EINVAL
	}
	// Linux measures nanosleep on CLOCK_MONOTONIC.
	now, _ := clockNow(linux.CLOCK_MONOTONIC)
	return t.sleepUntil(linux.CLOCK_MONOTONIC, now+d, a[1])
}

func sysClockNanosleep(t *task, a [6]uint64) (uint64, unix.Errno) {
	clk, flags, reqAddr, remAddr := int32(a[0]), a[1], a[2], a[3]
	if clk == linux.CLOCK_THREAD_CPUTIME_ID {
		return 0, unix.EOPNOTSUPP // Linux: the clock has no nsleep
	}
	now, ok := clockNow(clk)
	if !ok {
		return 0, unix.EINVAL
	}
	d, err := t.readTimespec(reqAddr)
	if err != 0 {
		return 0, err
	}
	if d < 0 {
		return 0, unix.EINVAL
	}
	if !calibrated(clk) {
		// A CPU-time clock's sleep is the wall time to its target
		// (the client cannot wake at a thread's CPU time).
		mono, _ := clockNow(linux.CLOCK_MONOTONIC)
		if flags&linux.TIMER_ABSTIME != 0 {
			return t.sleepUntil(linux.CLOCK_MONOTONIC, mono+d-now, 0)
		}
		return t.sleepUntil(linux.CLOCK_MONOTONIC, mono+d, remAddr)
	}
	if flags&linux.TIMER_ABSTIME != 0 {
		// No remaining time is reported for absolute sleeps.
		return t.sleepUntil(clk, d, 0)
	}
	return t.sleepUntil(clk, now+d, remAddr)
}

func sysRestartSyscall(t *task, a [6]uint64) (uint64, unix.Errno) {
	rb := t.restartBlock
	t.restartBlock = nil
	if rb == nil {
		return 0, unix.EINTR
	}
	return rb(t)
}

func sysGetrandom(t *task, a [6]uint64) (uint64, unix.Errno) {
	addr, length, flags := a[0], a[1], a[2]
	if flags&^(0x7 /* GRND_NONBLOCK|GRND_RANDOM|GRND_INSECURE */) != 0 {
		return 0, unix.EINVAL
	}
	if length > 1<<25-1 {
		length = 1<<25 - 1
	}
	const chunk = 64 << 10
	done := uint64(0)
	for done < length {
		n := min(length-done, chunk)
		b := make([]byte, n)
		randRead(b)
		if err := t.copyOut(addr+done, b); err != 0 {
			if done > 0 {
				return done, 0
			}
			return 0, err
		}
		done += n
	}
	return done, 0
}

// Scheduling and identity.

func sysSchedYield(t *task, a [6]uint64) (uint64, unix.Errno) {
	runtime.Gosched()
	return 0, 0
}

// schedPriorityRange returns the static priorities policy allows
// (sched_get_priority_min(2) and _max): 1 to 99 for the real-time
// policies, 0 for the others; ok false for no policy.
func schedPriorityRange(policy uint64) (lo, hi uint64, ok bool) {
	switch policy {
	case linux.SCHED_FIFO, linux.SCHED_RR:
		return 1, 99, true
	case linux.SCHED_NORMAL, linux.SCHED_BATCH, linux.SCHED_IDLE, linux.SCHED_DEADLINE:
		return 0, 0, true
	}
	return 0, 0, false
}

func sysSchedGetPriorityMax(t *task, a [6]uint64) (uint64, unix.Errno) {
	if _, hi, ok := schedPriorityRange(a[0]); ok {
		return hi, 0
	}
	return 0, unix.EINVAL
}

func sysSchedGetPriorityMin(t *task, a [6]uint64) (uint64, unix.Errno) {
	if lo, _, ok := schedPriorityRange(a[0]); ok {
		return lo, 0
	}
	return 0, unix.EINVAL
}

func sysUname(t *task, a [6]uint64) (uint64, unix.Errno) {
	u := t.c.utsName()
	b := make([]byte, u.SizeBytes())
	u.MarshalBytes(b)
	return 0, t.copyOut(a[0], b)
}

func sysGetuid(t *task, a [6]uint64) (uint64, unix.Errno) {
	return uint64(t.creds().uid), 0
}
func sysGetgid(t *task, a [6]uint64) (uint64, unix.Errno) {
	return uint64(t.creds().gid), 0
}
func sysGeteuid(t *task, a [6]uint64) (uint64, unix.Errno) {
	return uint64(t.creds().euid), 0
}
func sysGetegid(t *task, a [6]uint64) (uint64, unix.Errno) {
	return uint64(t.creds().egid), 0
}
func sysGetpid(t *task, a [6]uint64) (uint64, unix.Errno) { return uint64(t.proc.pid), 0 }
func sysGettid(t *task, a [6]uint64) (uint64, unix.Errno) { return uint64(t.tid), 0 }

// Resource limits (local, per process).

func (t *task) getrlimit(resource uint64, addr uint64) unix.Errno {
	lt, ok := limits.FromLinuxResource[int(resource)]
	if !ok {
		return unix.EINVAL
	}
	l := t.proc.limits.Get(lt)
	var b [16]byte
	hostarch.ByteOrder.PutUint64(b[:], limits.ToLinux(l.Cur))
	hostarch.ByteOrder.PutUint64(b[8:], limits.ToLinux(l.Max))
	return t.copyOut(addr, b[:])
}

func (t *task) setrlimit(resource uint64, addr uint64) unix.Errno {
	lt, ok := limits.FromLinuxResource[int(resource)]
	if !ok {
		return unix.EINVAL
	}
	var b [16]byte
	if err := t.copyIn(addr, b[:]); err != 0 {
		return err
	}
	l := limits.Limit{Cur: limits.FromLinux(le64(b[:])), Max: limits.FromLinux(le64(b[8:]))}
	if l.Cur > l.Max {
		return unix.EINVAL
	}
	privileged := t.creds().euid == 0
	if lt == limits.NumberOfFiles {
		// The server holds /proc/sys/fs/nr_open, which a hard limit
		// above is EPERM even for root (Linux's do_prlimit): it takes
		// the limit first, after the check limits.Set would make.
		if l.Max > t.proc.limits.Get(lt).Max && !privileged {
			return unix.EPERM
		}
		if err := t.syncLimit(unix.RLIMIT_NOFILE, l); err != 0 {
			return err
		}
	}
	if _, err := t.proc.limits.Set(lt, l, privileged); err != nil {
		return toErrno(err)
	}
	switch lt {
	case limits.CPU:
		t.proc.cpuLimitChanged()
	case limits.FileSize:
		return t.syncLimit(unix.RLIMIT_FSIZE, l)
	case limits.Core:
		return t.syncLimit(unix.RLIMIT_CORE, l)
	case limits.Nice:
		return t.syncLimit(unix.RLIMIT_NICE, l)
	case limits.RealTimePriority:
		return t.syncLimit(unix.RLIMIT_RTPRIO, l)
	}
	return 0
}

// nrOpen is /proc/sys/fs/nr_open's default, the ceiling of a root
// process's RLIMIT_NOFILE (limitsOf); the server holds the sysctl, and
// checks setrlimit's against it.
const nrOpen = 1 << 20

// syncLimit tells the server a limit it enforces: RLIMIT_NOFILE (it
// allocates fds, up to nr_open), RLIMIT_FSIZE (it writes and truncates
// files), RLIMIT_CORE (whether a signal's wait status says WCOREDUMP),
// RLIMIT_NICE or RLIMIT_RTPRIO (how far a priority may be raised).
func (t *task) syncLimit(resource uint64, l limits.Limit) unix.Errno {
	const addr = 0x1000 // any address: the server reads only the region sent
	var b [16]byte
	hostarch.ByteOrder.PutUint64(b[:], limits.ToLinux(l.Cur))
	hostarch.ByteOrder.PutUint64(b[8:], limits.ToLinux(l.Max))
	r := t.forwardInternal(unix.SYS_PRLIMIT64, [6]uint64{0, resource, addr, 0}, []*pb.Region{{Addr: addr, Data: b[:]}})
	if r == nil {
		return unix.EIO
	}
	return unix.Errno(r.Errno)
}

func sysGetrlimit(t *task, a [6]uint64) (uint64, unix.Errno) {
	return 0, t.getrlimit(a[0], a[1])
}

func sysSetrlimit(t *task, a [6]uint64) (uint64, unix.Errno) {
	return 0, t.setrlimit(a[0], a[1])
}

func sysPrlimit64(t *task, a [6]uint64) (uint64, unix.Errno) {
	pid, resource, newAddr, oldAddr := int32(a[0]), a[1], a[2], a[3]
	if pid != 0 && pid != t.proc.pid && pid != t.tid {
		// Other processes' limits are not known to this client.
		return 0, unix.EPERM
	}
	if oldAddr != 0 {
		if err := t.getrlimit(resource, oldAddr); err != 0 {
			return 0, err
		}
	}
	if newAddr != 0 {
		return 0, t.setrlimit(resource, newAddr)
	}
	return 0, 0
}

var clientStart = time.Now()

func sysSysinfo(t *task, a [6]uint64) (uint64, unix.Errno) {
	var host unix.Sysinfo_t
	unix.Sysinfo(&host)
	b := make([]byte, 112)
	hostarch.ByteOrder.PutUint64(b[0:], uint64(time.Since(clientStart)/time.Second))
	hostarch.ByteOrder.PutUint64(b[32:], host.Totalram*uint64(host.Unit))
	hostarch.ByteOrder.PutUint64(b[40:], host.Freeram*uint64(host.Unit))
	t.c.mu.Lock()
	n := len(t.c.tasks)
	t.c.mu.Unlock()
	hostarch.ByteOrder.PutUint16(b[80:], uint16(n))
	hostarch.ByteOrder.PutUint32(b[104:], 1) // mem_unit
	return 0, t.copyOut(a[0], b)
}

func sysTimes(t *task, a [6]uint64) (uint64, unix.Errno) {
	const hz = 100
	ticks := func(d time.Duration) uint64 { return uint64(d / (time.Second / hz)) }
	if a[0] != 0 {
		u, s := t.proc.cpuTimes()
		ct := t.proc.childTimes()
		var b [32]byte
		hostarch.ByteOrder.PutUint64(b[0:], ticks(u))
		hostarch.ByteOrder.PutUint64(b[8:], ticks(s))
		hostarch.ByteOrder.PutUint64(b[16:], ticks(ct.user))
		hostarch.ByteOrder.PutUint64(b[24:], ticks(ct.sys))
		if err := t.copyOut(a[0], b[:]); err != 0 {
			return 0, err
		}
	}
	mono, _ := clockNow(linux.CLOCK_MONOTONIC)
	return uint64(mono / (time.Second / hz)), 0
}

func sysPrctl(t *task, a [6]uint64) (uint64, unix.Errno) {
	switch a[0] {
	case linux.PR_SET_NAME:
		b, err := appMemory{t}.ReadString(a[1], linux.TASK_COMM_LEN)
		if err != nil {
			// Linux copies 16 bytes and truncates; a missing NUL is fine.
			raw := make([]byte, linux.TASK_COMM_LEN-1)
			if e := t.copyIn(a[1], raw); e != 0 {
				return 0, unix.EFAULT
			}
			b = append(raw, 0)
		}
		name := string(b[:len(b)-1])
		if len(name) > linux.TASK_COMM_LEN-1 {
			name = name[:linux.TASK_COMM_LEN-1]
		}
		t.mu.Lock()
		t.name = name
		t.mu.Unlock()
		return 0, 0
	case linux.PR_GET_NAME:
		b := make([]byte, linux.TASK_COMM_LEN)
		t.mu.Lock()
		copy(b, t.name)
		t.mu.Unlock()
		return 0, t.copyOut(a[1], b)
	case linux.PR_GET_DUMPABLE:
		t.proc.mu.Lock()
		defer t.proc.mu.Unlock()
		return t.proc.dumpable, 0
	case linux.PR_SET_DUMPABLE:
		if a[1] > 1 {
			return 0, unix.EINVAL
		}
		t.proc.mu.Lock()
		t.proc.dumpable = a[1]
		t.proc.mu.Unlock()
		return 0, 0
	case linux.PR_SET_NO_NEW_PRIVS:
		if a[1] != 1 || a[2]|a[3]|a[4] != 0 {
			return 0, unix.EINVAL
		}
		t.proc.mu.Lock()
		t.proc.noNewPrivs = true
		t.proc.mu.Unlock()
		return 0, 0
	case linux.PR_GET_NO_NEW_PRIVS:
		if a[1]|a[2]|a[3]|a[4] != 0 {
			return 0, unix.EINVAL
		}
		t.proc.mu.Lock()
		defer t.proc.mu.Unlock()
		if t.proc.noNewPrivs {
			return 1, 0
		}
		return 0, 0
	case linux.PR_SET_SECCOMP, linux.PR_GET_SECCOMP:
		return seccompPrctl(t, a)
	case linux.PR_SET_MM:
		return prctlSetMM(t, a)
	case linux.PR_SET_VMA:
		if a[1] != linux.PR_SET_VMA_ANON_NAME {
			return 0, unix.EINVAL
		}
		name := ""
		if a[4] != 0 {
			b, err := appMemory{t}.ReadString(a[4], 80)
			if err != nil {
				return 0, unix.EFAULT
			}
			name = string(b[:len(b)-1])
		}
		return 0, toErrno(t.mm.SetVMAAnonName(hostarch.Addr(a[2]), a[3], name, a[4] == 0))
	case linux.PR_CAPBSET_READ, linux.PR_CAPBSET_DROP, linux.PR_CAP_AMBIENT,
		linux.PR_GET_KEEPCAPS, linux.PR_SET_KEEPCAPS, linux.PR_GET_SECUREBITS, linux.PR_SET_SECUREBITS,
		linux.PR_SET_PDEATHSIG, linux.PR_GET_PDEATHSIG, linux.PR_SET_CHILD_SUBREAPER, linux.PR_GET_CHILD_SUBREAPER,
		linux.PR_SET_TIMERSLACK, linux.PR_GET_TIMERSLACK:
		// Capabilities are credentials, and a process's parent-death
		// signal, subreaper bit and its threads' timer slack are
		// processes' state: the server keeps them.
		return t.forward(unix.SYS_PRCTL, a)
	default:
		return 0, unix.EINVAL
	}
}

// sysGetcpu reports the first CPU the thread's affinity allows (the host
// does not say which of its CPUs runs the thread), node 0.
func sysGetcpu(t *task, a [6]uint64) (uint64, unix.Errno) {
	if a[0] != 0 {
		if err := t.writeUint32(a[0], uint32(t.affinityMask().first())); err != 0 {
			return 0, err
		}
	}
	if a[1] != 0 {
		if err := t.writeUint32(a[1], 0); err != 0 {
			return 0, err
		}
	}
	return 0, 0
}

// stickyPersonality is Linux's STICKY_TIMEOUTS personality flag.
const stickyPersonality = 0x4000000

// stickyTimeout is the address of the timeout select, pselect6 or ppoll
// leaves as it was, under the STICKY_TIMEOUTS personality (Linux's
// poll_select_finish writes the time left back otherwise); 0 if none.
func (t *task) stickyTimeout(sysno uintptr, args [6]uint64) uint64 {
	var addr uint64
	switch sysno {
	case unix.SYS_SELECT, unix.SYS_PSELECT6:
		addr = args[4]
	case unix.SYS_PPOLL:
		addr = args[2]
	default:
		return 0
	}
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	if t.proc.personality&stickyPersonality == 0 {
		return 0
	}
	return addr
}

func sysPersonality(t *task, a [6]uint64) (uint64, unix.Errno) {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	old := t.proc.personality
	if uint32(a[0]) != 0xffffffff {
		t.proc.personality = uint32(a[0])
	}
	return uint64(old), 0
}
