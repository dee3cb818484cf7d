package server

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestParentDeathAndSubreaper: a child that asked PR_SET_PDEATHSIG gets
// its signal when its parent exits, from the parent's pid; orphans go to
// the nearest child subreaper rather than init; a fork does not inherit
// the signal, and a change of effective user clears it.
func TestParentDeathAndSubreaper(t *testing.T) {
	e := started(t)
	out := e.mem.zeros(4)
	getppid := func(tid int32) int64 { return e.ok(tid, unix.SYS_GETPPID) }

	reaper := e.fork(1)
	e.ok(reaper, unix.SYS_PRCTL, linux.PR_SET_CHILD_SUBREAPER, 1)
	e.ok(reaper, unix.SYS_PRCTL, linux.PR_GET_CHILD_SUBREAPER, out)
	if got := e.mem.u32(out); got != 1 {
		t.Errorf("PR_GET_CHILD_SUBREAPER = %d, want 1", got)
	}
	middle := e.fork(reaper)
	orphan := e.fork(middle)
	e.ok(orphan, unix.SYS_PRCTL, linux.PR_SET_PDEATHSIG, uint64(unix.SIGUSR1))
	e.ok(orphan, unix.SYS_PRCTL, linux.PR_GET_PDEATHSIG, out)
	if got := e.mem.u32(out); got != uint32(unix.SIGUSR1) {
		t.Errorf("PR_GET_PDEATHSIG = %d, want SIGUSR1", got)
	}
	e.fails(unix.EINVAL, orphan, unix.SYS_PRCTL, linux.PR_SET_PDEATHSIG, 65)
	grandchild := e.fork(orphan)
	e.ok(grandchild, unix.SYS_PRCTL, linux.PR_GET_PDEATHSIG, out)
	if got := e.mem.u32(out); got != 0 {
		t.Errorf("a fork inherited PR_SET_PDEATHSIG %d", got)
	}
	if got := e.threadRecord(orphan); got == nil {
		t.Fatal("no record of the orphan's thread")
	}
	if got := e.procRecord(orphan).GetPdeathSignal(); got != int32(unix.SIGUSR1) {
		t.Errorf("the orphan's record has pdeath_signal %d", got)
	}

	// The orphan, with no handler, is killed by its SIGUSR1; the
	// subreaper, its parent now, reaps it.
	e.sys(middle, unix.SYS_EXIT_GROUP, 0)
	if pid, st := e.wait4(reaper, int64(orphan), 0); pid != int64(orphan) || st != uint32(unix.SIGUSR1) {
		t.Errorf("the subreaper's wait4 = %d, status %#x; want %d killed by SIGUSR1", pid, st, orphan)
	}
	if got := getppid(grandchild); got != int64(reaper) {
		t.Errorf("the grandchild's parent is %d, want the subreaper %d", got, reaper)
	}

	// Without a subreaper above it, an orphan goes to init; a change of
	// user cleared its parent-death signal.
	e.ok(reaper, unix.SYS_PRCTL, linux.PR_SET_CHILD_SUBREAPER, 0)
	e.ok(grandchild, unix.SYS_PRCTL, linux.PR_SET_PDEATHSIG, uint64(unix.SIGUSR2))
	e.ok(grandchild, unix.SYS_SETRESUID, 1000, 1000, 1000)
	e.ok(grandchild, unix.SYS_PRCTL, linux.PR_GET_PDEATHSIG, out)
	if got := e.mem.u32(out); got != 0 {
		t.Errorf("PR_SET_PDEATHSIG %d kept across a change of user", got)
	}
	e.sys(reaper, unix.SYS_EXIT_GROUP, 0)
	if got := getppid(grandchild); got != 1 {
		t.Errorf("the grandchild's parent is %d, want init", got)
	}
}

// TestTimerSlack: PR_SET_TIMERSLACK sets the thread's slack, 0 restores
// its default (the creator's slack at clone), a real-time thread's is
// left as is, and a recovery keeps it.
func TestTimerSlack(t *testing.T) {
	r := newReplayer(t)
	r.start()
	if got := r.ok(1, unix.SYS_PRCTL, linux.PR_GET_TIMERSLACK); got != 50000 {
		t.Errorf("first slack %d, want 50000", got)
	}
	r.ok(1, unix.SYS_PRCTL, linux.PR_SET_TIMERSLACK, 70000)
	child := int32(r.ok(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)))
	r.ok(child, unix.SYS_PRCTL, linux.PR_SET_TIMERSLACK, 5)
	r.crash()
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	for _, tc := range []struct {
		name  string
		tid   int32
		set   uint64
		want  int64
		setup func()
	}{
		{"kept by the restore", 1, ^uint64(0), 70000, nil},
		{"the child's own", child, ^uint64(0), 5, nil},
		{"0: the child's default is its parent's slack", child, 0, 70000, nil},
		{"0: init's default", 1, 0, 50000, nil},
		{"a FIFO thread's is left", 1, 9, 50000, func() {
			r.ok(1, unix.SYS_SCHED_SETSCHEDULER, 0, linux.SCHED_FIFO, r.mem.alloc([]byte{1, 0, 0, 0}))
		}},
	} {
		if tc.setup != nil {
			tc.setup()
		}
		if tc.set != ^uint64(0) {
			r.ok(tc.tid, unix.SYS_PRCTL, linux.PR_SET_TIMERSLACK, tc.set)
		}
		if got := r.ok(tc.tid, unix.SYS_PRCTL, linux.PR_GET_TIMERSLACK); got != tc.want {
			t.Errorf("%s: slack %d, want %d", tc.name, got, tc.want)
		}
	}
}
