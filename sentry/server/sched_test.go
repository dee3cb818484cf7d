package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// schedStep is one call of a scheduling test: from tid, sysno with args
// (each computed when the step runs, after the earlier ones), the result
// want or the errno wantErr.
type schedStep struct {
	name    string
	tid     func() int32
	sysno   uintptr
	args    func() []uint64
	want    int64
	wantErr unix.Errno
}

func runSchedSteps(t *testing.T, e *env, steps []schedStep) {
	t.Helper()
	for _, s := range steps {
		r := e.sys(s.tid(), s.sysno, s.args()...)
		if unix.Errno(r.Errno) != s.wantErr || (s.wantErr == 0 && r.Ret != s.want) {
			t.Errorf("%s: got %d, errno %v; want %d, errno %v", s.name, r.Ret, unix.Errno(r.Errno), s.want, s.wantErr)
		}
	}
}

func u64s(v ...int64) func() []uint64 {
	return func() []uint64 {
		out := make([]uint64, len(v))
		for i, x := range v {
			out[i] = uint64(x)
		}
		return out
	}
}

func tidOf(p *int32) func() int32 { return func() int32 { return *p } }

// TestPriorityCalls: getpriority and setpriority over one thread, a
// process group and a user, with Linux's clamping, inheritance at fork and
// refusals (EACCES to lower one's nice value without CAP_SYS_NICE, EPERM
// for another user's process, ESRCH for no match, EINVAL for a bad which).
func TestPriorityCalls(t *testing.T) {
	e := started(t)
	var child, other int32
	root := func() int32 { return 1 }
	runSchedSteps(t, e, []schedStep{
		{"getpriority(self) starts at nice 0", root, unix.SYS_GETPRIORITY, u64s(unix.PRIO_PROCESS, 0), 20, 0},
		{"setpriority(self, 5)", root, unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 0, 5), 0, 0},
		{"getpriority(self) after nice 5", root, unix.SYS_GETPRIORITY, u64s(unix.PRIO_PROCESS, 0), 15, 0},
		{"setpriority clamps 40 to 19", root, unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 1, 40), 0, 0},
		{"getpriority(1) after 40", root, unix.SYS_GETPRIORITY, u64s(unix.PRIO_PROCESS, 1), 1, 0},
		{"setpriority(self, 5) again as root", root, unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 0, 5), 0, 0},
		{"bad which", root, unix.SYS_GETPRIORITY, u64s(3, 0), 0, unix.EINVAL},
		{"setpriority bad which", root, unix.SYS_SETPRIORITY, u64s(-1, 0, 0), 0, unix.EINVAL},
		{"no such pid", root, unix.SYS_GETPRIORITY, u64s(unix.PRIO_PROCESS, 4000000), 0, unix.ESRCH},
		{"no such user", root, unix.SYS_GETPRIORITY, u64s(unix.PRIO_USER, 54321), 0, unix.ESRCH},
		{"no such group", root, unix.SYS_SETPRIORITY, u64s(unix.PRIO_PGRP, 4000000, 1), 0, unix.ESRCH},
	})

	child, other = e.fork(1), e.fork(1)
	e.ok(child, unix.SYS_SETPGID, 0, 0)
	e.ok(child, unix.SYS_SETRESUID, 1000, 1000, 1000)
	runSchedSteps(t, e, []schedStep{
		{"child inherits nice 5", tidOf(&child), unix.SYS_GETPRIORITY, u64s(unix.PRIO_PROCESS, 0), 15, 0},
		{"user lowers own nice", tidOf(&child), unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 0, 4), 0, unix.EACCES},
		{"user raises own nice", tidOf(&child), unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 0, 10), 0, 0},
		{"user keeps own nice", tidOf(&child), unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 0, 10), 0, 0},
		{"user changes root's process", tidOf(&child), unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 1, 19), 0, unix.EPERM},
		{"user reads root's process", tidOf(&child), unix.SYS_GETPRIORITY, u64s(unix.PRIO_PROCESS, 1), 15, 0},
		{"PRIO_USER 1000 is the child", tidOf(&other), unix.SYS_GETPRIORITY, u64s(unix.PRIO_USER, 1000), 10, 0},
		{"PRIO_USER 0 is the caller's real user", tidOf(&child), unix.SYS_GETPRIORITY, u64s(unix.PRIO_USER, 0), 10, 0},
		{"PRIO_PGRP of the child's group", tidOf(&other), unix.SYS_SETPRIORITY, u64s(unix.PRIO_PGRP, 0, 3), 0, 0},
		{"root's group changed", root, unix.SYS_GETPRIORITY, u64s(unix.PRIO_PROCESS, 1), 17, 0},
	})
	runSchedSteps(t, e, []schedStep{
		{"the child's group is its own", root, unix.SYS_GETPRIORITY, u64s(unix.PRIO_PGRP, int64(child)), 10, 0},
		{"root lowers the child's group", root, unix.SYS_SETPRIORITY, u64s(unix.PRIO_PGRP, int64(child), -3), 0, 0},
		{"the child sees it", tidOf(&child), unix.SYS_GETPRIORITY, u64s(unix.PRIO_PROCESS, 0), 23, 0},
	})
	if got := e.threadRecord(child).GetSched().GetNice(); got != -3 {
		t.Errorf("the child's thread record has nice %d, want -3", got)
	}
}

// schedAttr is a struct sched_attr of size bytes for sched_setattr.
func schedAttr(size uint32, a linux.SchedAttr) []byte {
	b := make([]byte, max(int(size), a.SizeBytes()))
	a.MarshalBytes(b)
	binary.LittleEndian.PutUint32(b, size)
	return b[:max(int(size), 4)]
}

// TestSchedPolicyCalls: the sched_* calls' policies and priorities, their
// errors in Linux's order, SCHED_RESET_ON_FORK, the deadline policy's
// parameters and refusal to fork, and sched_getattr's size handling.
func TestSchedPolicyCalls(t *testing.T) {
	e := started(t)
	prio := func(p uint32) uint64 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], p)
		return e.mem.alloc(b[:])
	}
	root := func() int32 { return 1 }
	a := func(v ...uint64) func() []uint64 { return func() []uint64 { return v } }
	const neg1 = ^uint64(0)
	fifo10, zero, one := prio(10), prio(0), prio(1)
	runSchedSteps(t, e, []schedStep{
		{"starts SCHED_NORMAL", root, unix.SYS_SCHED_GETSCHEDULER, a(0), linux.SCHED_NORMAL, 0},
		{"FIFO 10", root, unix.SYS_SCHED_SETSCHEDULER, a(0, linux.SCHED_FIFO, fifo10), 0, 0},
		{"is FIFO", root, unix.SYS_SCHED_GETSCHEDULER, a(1), linux.SCHED_FIFO, 0},
		{"OTHER with priority 1", root, unix.SYS_SCHED_SETSCHEDULER, a(0, linux.SCHED_NORMAL, one), 0, unix.EINVAL},
		{"FIFO with priority 0", root, unix.SYS_SCHED_SETSCHEDULER, a(0, linux.SCHED_FIFO, zero), 0, unix.EINVAL},
		{"unknown policy", root, unix.SYS_SCHED_SETSCHEDULER, a(0, 4, zero), 0, unix.EINVAL},
		{"negative policy", root, unix.SYS_SCHED_SETSCHEDULER, a(0, neg1, zero), 0, unix.EINVAL},
		{"negative pid", root, unix.SYS_SCHED_SETSCHEDULER, a(neg1, 0, zero), 0, unix.EINVAL},
		{"no param", root, unix.SYS_SCHED_SETSCHEDULER, a(0, 0, 0), 0, unix.EINVAL},
		{"param unreadable", root, unix.SYS_SCHED_SETSCHEDULER, a(0, 0, 8), 0, unix.EFAULT},
		{"no such thread before the policy", root, unix.SYS_SCHED_SETSCHEDULER, a(4000000, 99, zero), 0, unix.ESRCH},
		{"setparam keeps FIFO", root, unix.SYS_SCHED_SETPARAM, a(0, one), 0, 0},
		{"setparam 0 under FIFO", root, unix.SYS_SCHED_SETPARAM, a(0, zero), 0, unix.EINVAL},
		{"getscheduler of nobody", root, unix.SYS_SCHED_GETSCHEDULER, a(4000000), 0, unix.ESRCH},
		{"getscheduler(-1)", root, unix.SYS_SCHED_GETSCHEDULER, a(neg1), 0, unix.EINVAL},
		{"getparam without param", root, unix.SYS_SCHED_GETPARAM, a(0, 0), 0, unix.EINVAL},
		{"rr interval of FIFO", root, unix.SYS_SCHED_RR_GET_INTERVAL, a(0, e.mem.zeros(16)), 0, 0},
	})
	out := e.mem.zeros(4)
	e.ok(1, unix.SYS_SCHED_GETPARAM, 0, out)
	if got := e.mem.u32(out); got != 1 {
		t.Errorf("sched_getparam after setparam 1: %d", got)
	}

	// SCHED_RESET_ON_FORK: the child starts SCHED_NORMAL.
	e.ok(1, unix.SYS_SCHED_SETSCHEDULER, 0, linux.SCHED_RR|linux.SCHED_RESET_ON_FORK, prio(5))
	if got := e.ok(1, unix.SYS_SCHED_GETSCHEDULER, 0); got != linux.SCHED_RR|linux.SCHED_RESET_ON_FORK {
		t.Errorf("sched_getscheduler after RR|RESET_ON_FORK: %#x", got)
	}
	ts := e.mem.zeros(16)
	e.ok(1, unix.SYS_SCHED_RR_GET_INTERVAL, 0, ts)
	if sec, nsec := binary.LittleEndian.Uint64(e.mem.bytes(ts, 8)), binary.LittleEndian.Uint64(e.mem.bytes(ts+8, 8)); sec != 0 || nsec != 100e6 {
		t.Errorf("SCHED_RR quantum %d s %d ns, want 100 ms", sec, nsec)
	}
	child := e.fork(1)
	e.ok(child, unix.SYS_SCHED_GETPARAM, 0, out)
	if got, p := e.ok(child, unix.SYS_SCHED_GETSCHEDULER, 0), e.mem.u32(out); got != linux.SCHED_NORMAL || p != 0 {
		t.Errorf("child of RR|RESET_ON_FORK: policy %#x priority %d, want SCHED_NORMAL 0", got, p)
	}
	e.ok(child, unix.SYS_SETRESUID, 1000, 1000, 1000)
	runSchedSteps(t, e, []schedStep{
		{"user asks FIFO", func() int32 { return child }, unix.SYS_SCHED_SETSCHEDULER, a(0, linux.SCHED_FIFO, one), 0, unix.EPERM},
		{"user changes root's", func() int32 { return child }, unix.SYS_SCHED_SETPARAM, a(1, prio(5)), 0, unix.EPERM},
		{"user may go BATCH", func() int32 { return child }, unix.SYS_SCHED_SETSCHEDULER, a(0, linux.SCHED_BATCH, zero), 0, 0},
		{"user may go IDLE", func() int32 { return child }, unix.SYS_SCHED_SETSCHEDULER, a(0, linux.SCHED_IDLE, zero), 0, 0},
		{"user may not leave IDLE", func() int32 { return child }, unix.SYS_SCHED_SETSCHEDULER, a(0, linux.SCHED_NORMAL, zero), 0, unix.EPERM},
	})

	// sched_setattr and sched_getattr: a deadline thread.
	dl := linux.SchedAttr{SchedPolicy: linux.SCHED_DEADLINE, SchedRuntime: 30e6, SchedDeadline: 30e6, SchedPeriod: 100e6}
	attr := e.mem.alloc(schedAttr(linux.SCHED_ATTR_SIZE_VER1, dl))
	bad := dl
	bad.SchedRuntime = 40e6 // above the deadline
	tooSmall := e.mem.alloc(schedAttr(20, dl))
	tail := append(schedAttr(64, dl)[:56:56], 0, 0, 0, 0, 0, 0, 0, 1)
	runSchedSteps(t, e, []schedStep{
		{"setattr flags", root, unix.SYS_SCHED_SETATTR, a(0, attr, 1000), 0, unix.EINVAL},
		{"setattr no attr", root, unix.SYS_SCHED_SETATTR, a(0, 0, 0), 0, unix.EINVAL},
		{"setattr runtime above deadline", root, unix.SYS_SCHED_SETATTR, a(0, e.mem.alloc(schedAttr(56, bad)), 0), 0, unix.EINVAL},
		{"setattr size 20", root, unix.SYS_SCHED_SETATTR, a(0, tooSmall, 0), 0, unix.E2BIG},
		{"setattr unknown tail", root, unix.SYS_SCHED_SETATTR, a(0, e.mem.alloc(tail), 0), 0, unix.E2BIG},
		{"setattr zero tail", root, unix.SYS_SCHED_SETATTR, a(0, e.mem.alloc(schedAttr(64, dl)), 0), 0, 0},
		{"setattr nobody", root, unix.SYS_SCHED_SETATTR, a(4000000, attr, 0), 0, unix.ESRCH},
		{"setattr deadline", root, unix.SYS_SCHED_SETATTR, a(0, attr, 0), 0, 0},
		{"deadline thread cannot fork", root, unix.SYS_CLONE, a(uint64(unix.SIGCHLD)), 0, unix.EAGAIN},
		{"getattr size 47", root, unix.SYS_SCHED_GETATTR, a(0, e.mem.zeros(64), 47, 0), 0, unix.EINVAL},
		{"getattr flags", root, unix.SYS_SCHED_GETATTR, a(0, e.mem.zeros(64), 56, 1), 0, unix.EINVAL},
		{"getattr nobody", root, unix.SYS_SCHED_GETATTR, a(4000000, e.mem.zeros(64), 56, 0), 0, unix.ESRCH},
	})
	if got := e.mem.u32(tooSmall); got != linux.SCHED_ATTR_SIZE_VER1 {
		t.Errorf("E2BIG wrote size %d back, want %d", got, linux.SCHED_ATTR_SIZE_VER1)
	}
	got := e.mem.alloc(make([]byte, 128))
	e.ok(1, unix.SYS_SCHED_GETATTR, 0, got, 128, 0)
	var back linux.SchedAttr
	back.UnmarshalBytes(e.mem.bytes(got, back.SizeBytes()))
	want := dl
	want.Size = linux.SCHED_ATTR_SIZE_VER1
	if back != want {
		t.Errorf("sched_getattr = %+v, want %+v", back, want)
	}
	if e.threadRecord(1).GetSched().GetPolicy() != linux.SCHED_DEADLINE {
		t.Errorf("thread record %v lacks the deadline policy", e.threadRecord(1))
	}
}

// TestSchedRecovery: a thread's nice value, policy and I/O priority come
// back with it after a server failure.
func TestSchedRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	r.ok(1, unix.SYS_SETPRIORITY, unix.PRIO_PROCESS, 0, 7)
	const idle3 = linux.IOPRIO_CLASS_IDLE<<linux.IOPRIO_CLASS_SHIFT | 3
	r.ok(1, unix.SYS_IOPRIO_SET, linux.IOPRIO_WHO_PROCESS, 0, idle3)
	p := r.mem.alloc([]byte{3, 0, 0, 0})
	r.ok(1, unix.SYS_SCHED_SETSCHEDULER, 0, linux.SCHED_RR, p)
	r.crash()
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	if got := r.ok(1, unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0); got != 13 {
		t.Errorf("getpriority after the restore: %d, want 13", got)
	}
	if got := r.ok(1, unix.SYS_SCHED_GETSCHEDULER, 0); got != linux.SCHED_RR {
		t.Errorf("sched_getscheduler after the restore: %d, want SCHED_RR", got)
	}
	if got := r.ok(1, unix.SYS_IOPRIO_GET, linux.IOPRIO_WHO_PROCESS, 0); got != idle3 {
		t.Errorf("ioprio_get after the restore: %#x, want %#x", got, idle3)
	}
	out := r.mem.zeros(4)
	r.ok(1, unix.SYS_SCHED_GETPARAM, 0, out)
	if got := r.mem.u32(out); got != 3 {
		t.Errorf("sched_getparam after the restore: %d, want 3", got)
	}
}

// TestSchedLimits: RLIMIT_NICE and RLIMIT_RTPRIO (which the client sends)
// let a process without CAP_SYS_NICE raise its priority that far and no
// further; a fork inherits them, and the process record keeps them.
func TestSchedLimits(t *testing.T) {
	e := started(t)
	child := e.fork(1)
	e.ok(child, unix.SYS_SETRESUID, 1000, 1000, 1000)
	limit := func(resource, cur uint64) {
		t.Helper()
		if r := e.call(prlimitCall(child, resource, cur)); r.Errno != 0 {
			t.Fatalf("prlimit64(%d, %d): %v", resource, cur, unix.Errno(r.Errno))
		}
	}
	prio := func(p uint32) uint64 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], p)
		return e.mem.alloc(b[:])
	}
	c := func() int32 { return child }
	runSchedSteps(t, e, []schedStep{
		{"nice -1 with RLIMIT_NICE 0", c, unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 0, -1), 0, unix.EACCES},
		{"FIFO with RLIMIT_RTPRIO 0", c, unix.SYS_SCHED_SETSCHEDULER, u64s(0, linux.SCHED_FIFO, int64(prio(1))), 0, unix.EPERM},
	})
	limit(unix.RLIMIT_NICE, 25)
	limit(unix.RLIMIT_RTPRIO, 10)
	runSchedSteps(t, e, []schedStep{
		{"nice -5 with RLIMIT_NICE 25", c, unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 0, -5), 0, 0},
		{"nice -6 with RLIMIT_NICE 25", c, unix.SYS_SETPRIORITY, u64s(unix.PRIO_PROCESS, 0, -6), 0, unix.EACCES},
		{"FIFO 5 with RLIMIT_RTPRIO 10", c, unix.SYS_SCHED_SETSCHEDULER, u64s(0, linux.SCHED_FIFO, int64(prio(5))), 0, 0},
		{"FIFO 11 with RLIMIT_RTPRIO 10", c, unix.SYS_SCHED_SETPARAM, u64s(0, int64(prio(11))), 0, unix.EPERM},
		{"FIFO 10 with RLIMIT_RTPRIO 10", c, unix.SYS_SCHED_SETPARAM, u64s(0, int64(prio(10))), 0, 0},
	})
	grandchild := e.fork(child)
	e.ok(grandchild, unix.SYS_SCHED_SETSCHEDULER, 0, linux.SCHED_NORMAL, prio(0))
	e.ok(grandchild, unix.SYS_SETPRIORITY, unix.PRIO_PROCESS, 0, 0)
	if got := e.sys(grandchild, unix.SYS_SETPRIORITY, unix.PRIO_PROCESS, 0, uint64(^uint64(4))); got.Errno != 0 {
		t.Errorf("a fork's nice -5 under the inherited RLIMIT_NICE: %v", unix.Errno(got.Errno))
	}
	if st := e.procRecord(grandchild); st.GetNiceLimit() != 25 || st.GetRtprioLimit() != 10 {
		t.Errorf("the fork's record has limits %d, %d; want 25, 10", st.GetNiceLimit(), st.GetRtprioLimit())
	}
}

// TestIoprioData: ioprio_set's data as the kernel the sandbox reports
// (6.1) checks it, where the host's may differ (6.5's hints): a level of
// 8 or more for RT and BE, and any data for NONE, are EINVAL; IDLE takes
// any. A refused priority leaves the thread's as it was.
func TestIoprioData(t *testing.T) {
	e := started(t)
	prio := func(class, data int64) func() []uint64 {
		return u64s(linux.IOPRIO_WHO_PROCESS, 0, class<<linux.IOPRIO_CLASS_SHIFT|data)
	}
	self := func() int32 { return 1 }
	runSchedSteps(t, e, []schedStep{
		{"BE 4", self, unix.SYS_IOPRIO_SET, prio(linux.IOPRIO_CLASS_BE, 4), 0, 0},
		{"BE 8", self, unix.SYS_IOPRIO_SET, prio(linux.IOPRIO_CLASS_BE, 8), 0, unix.EINVAL},
		{"BE with data above the level", self, unix.SYS_IOPRIO_SET, prio(linux.IOPRIO_CLASS_BE, 8|2), 0, unix.EINVAL},
		{"RT 8", self, unix.SYS_IOPRIO_SET, prio(linux.IOPRIO_CLASS_RT, 8), 0, unix.EINVAL},
		{"NONE 8", self, unix.SYS_IOPRIO_SET, prio(linux.IOPRIO_CLASS_NONE, 8), 0, unix.EINVAL},
		{"still BE 4", self, unix.SYS_IOPRIO_GET, u64s(linux.IOPRIO_WHO_PROCESS, 0), linux.IOPRIO_CLASS_BE<<linux.IOPRIO_CLASS_SHIFT | 4, 0},
		{"IDLE 1000", self, unix.SYS_IOPRIO_SET, prio(linux.IOPRIO_CLASS_IDLE, 1000), 0, 0},
		{"IDLE 1000 kept", self, unix.SYS_IOPRIO_GET, u64s(linux.IOPRIO_WHO_PROCESS, 0), linux.IOPRIO_CLASS_IDLE<<linux.IOPRIO_CLASS_SHIFT | 1000, 0},
		{"class 4", self, unix.SYS_IOPRIO_SET, prio(4, 0), 0, unix.EINVAL},
	})
}
