package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// cloneArgs places a struct clone_args of size bytes (extra bytes after
// the known struct from extra) in e's memory.
func (m *appMem) cloneArgs(a sysabi.CloneArgs, size int, extra ...byte) uint64 {
	b := make([]byte, max(size, sysabi.SizeofCloneArgs))
	for i, v := range []uint64{a.Flags, a.Pidfd, a.ChildTID, a.ParentTID, a.ExitSignal,
		a.Stack, a.StackSize, a.TLS, a.SetTID, a.SetTIDSize, a.Cgroup} {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	copy(b[sysabi.SizeofCloneArgs:], extra)
	return m.alloc(b[:size])
}

// TestClone3Errors checks clone3's refusals in Linux's order:
// copy_clone_args_from_user's (size, copy, set_tid, exit_signal,
// cgroup), clone3_args_valid's, kernel_clone's and copy_process's.
func TestClone3Errors(t *testing.T) {
	e := started(t)
	m := e.mem
	ids := func(v ...uint32) uint64 {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], x)
		}
		return m.alloc(b)
	}
	stack := m.zeros(64)
	word := m.zeros(4)
	const sigchld = uint64(unix.SIGCHLD)
	thread := uint64(unix.CLONE_VM | unix.CLONE_SIGHAND | unix.CLONE_THREAD)
	for _, tc := range []struct {
		name string
		addr uint64
		size uint64
		want unix.Errno
	}{
		{"size above a page", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld}, 88), 4097, unix.E2BIG},
		{"size zero", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld}, 88), 0, unix.EINVAL},
		{"size below VER0", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld}, 88), 63, unix.EINVAL},
		{"unreadable struct", 0, 88, unix.EFAULT},
		{"nonzero extra bytes", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld}, 96, 0, 0, 1), 96, unix.E2BIG},
		{"set_tid_size above 32", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTID: ids(5000), SetTIDSize: 33}, 88), 88, unix.EINVAL},
		{"set_tid_size without set_tid", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTIDSize: 1}, 88), 88, unix.EINVAL},
		{"set_tid without set_tid_size", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTID: ids(5000)}, 88), 88, unix.EINVAL},
		{"exit_signal above _NSIG", m.cloneArgs(sysabi.CloneArgs{ExitSignal: 65}, 88), 88, unix.EINVAL},
		{"exit_signal beyond CSIGNAL", m.cloneArgs(sysabi.CloneArgs{ExitSignal: 0x100 | sigchld}, 88), 88, unix.EINVAL},
		{"CLONE_INTO_CGROUP in a VER1 struct", m.cloneArgs(sysabi.CloneArgs{Flags: sysabi.CloneIntoCgroup, ExitSignal: sigchld}, 80), 80, unix.EINVAL},
		{"CLONE_INTO_CGROUP above INT_MAX", m.cloneArgs(sysabi.CloneArgs{Flags: sysabi.CloneIntoCgroup, ExitSignal: sigchld, Cgroup: 1 << 31}, 88), 88, unix.EINVAL},
		{"unreadable set_tid", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTID: 8, SetTIDSize: 1}, 88), 88, unix.EFAULT},
		{"unknown flag", m.cloneArgs(sysabi.CloneArgs{Flags: 1 << 34, ExitSignal: sigchld}, 88), 88, unix.EINVAL},
		{"CLONE_DETACHED", m.cloneArgs(sysabi.CloneArgs{Flags: sysabi.CloneDetached, ExitSignal: sigchld}, 88), 88, unix.EINVAL},
		{"a signal in the flags", m.cloneArgs(sysabi.CloneArgs{Flags: sigchld}, 88), 88, unix.EINVAL},
		{"CLONE_CLEAR_SIGHAND with CLONE_SIGHAND", m.cloneArgs(sysabi.CloneArgs{Flags: sysabi.CloneClearSighand | unix.CLONE_SIGHAND | unix.CLONE_VM, ExitSignal: sigchld}, 88), 88, unix.EINVAL},
		{"CLONE_THREAD with an exit signal", m.cloneArgs(sysabi.CloneArgs{Flags: thread, ExitSignal: sigchld}, 88), 88, unix.EINVAL},
		{"CLONE_PARENT with an exit signal", m.cloneArgs(sysabi.CloneArgs{Flags: unix.CLONE_PARENT, ExitSignal: sigchld}, 88), 88, unix.EINVAL},
		{"stack_size without stack", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, StackSize: 4}, 88), 88, unix.EINVAL},
		{"stack without stack_size", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, Stack: stack}, 88), 88, unix.EINVAL},
		{"stack beyond user addresses", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, Stack: stack, StackSize: 1 << 47}, 88), 88, unix.EINVAL},
		{"pidfd at parent_tid", m.cloneArgs(sysabi.CloneArgs{Flags: unix.CLONE_PIDFD | unix.CLONE_PARENT_SETTID, ExitSignal: sigchld, Pidfd: word, ParentTID: word}, 88), 88, unix.EINVAL},
		{"CLONE_THREAD without CLONE_SIGHAND", m.cloneArgs(sysabi.CloneArgs{Flags: unix.CLONE_THREAD | unix.CLONE_VM}, 88), 88, unix.EINVAL},
		{"CLONE_SIGHAND without CLONE_VM", m.cloneArgs(sysabi.CloneArgs{Flags: unix.CLONE_SIGHAND, ExitSignal: sigchld}, 88), 88, unix.EINVAL},
		{"CLONE_PIDFD with CLONE_THREAD", m.cloneArgs(sysabi.CloneArgs{Flags: thread | unix.CLONE_PIDFD, Pidfd: word}, 88), 88, unix.EINVAL},
		{"two set_tids in one pid namespace", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTID: ids(5000, 5001), SetTIDSize: 2}, 88), 88, unix.EINVAL},
		{"set_tid 0", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTID: ids(0), SetTIDSize: 1}, 88), 88, unix.EINVAL},
		{"set_tid pid_max", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTID: ids(1 << 22), SetTIDSize: 1}, 88), 88, unix.EINVAL},
		{"set_tid in use", m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTID: ids(1), SetTIDSize: 1}, 88), 88, unix.EEXIST},
		{"CLONE_PIDFD without a pidfd", m.cloneArgs(sysabi.CloneArgs{Flags: unix.CLONE_PIDFD, ExitSignal: sigchld}, 88), 88, unix.EFAULT},
		{"CLONE_PIDFD at an unwritable pidfd", m.cloneArgs(sysabi.CloneArgs{Flags: unix.CLONE_PIDFD, ExitSignal: sigchld, Pidfd: 8}, 88), 88, unix.EFAULT},
	} {
		r := e.sys(1, unix.SYS_CLONE3, tc.addr, tc.size)
		if unix.Errno(r.Errno) != tc.want || r.GetClone() != nil {
			t.Errorf("%s: errno %v (ret %d, clone %v), want %v", tc.name, unix.Errno(r.Errno), r.Ret, r.GetClone(), tc.want)
		}
	}

	// A struct whose page-long size reaches past the memory: nothing
	// is allocated after it.
	e.fails(unix.EFAULT, 1, unix.SYS_CLONE3, m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld}, 88), 4096)

	// Without CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE) set_tid is
	// refused before the pid is looked at.
	child := e.fork(1)
	e.ok(child, unix.SYS_SETRESUID, 1000, 1000, 1000)
	e.fails(unix.EPERM, child, unix.SYS_CLONE3, m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTID: ids(1), SetTIDSize: 1}, 88), 88)
}

// TestClone3 checks the children clone3 makes: the pid set_tid asks
// for, the exit signal, CLONE_PIDFD's fd at its own location beside
// CLONE_PARENT_SETTID's, CLONE_CLEAR_SIGHAND's dispositions, a larger
// struct with zero extra bytes, and CLONE_INTO_CGROUP ignored (a Linux
// without cgroups).
func TestClone3(t *testing.T) {
	e := started(t)
	m := e.mem
	const sigchld = uint64(unix.SIGCHLD)
	clone3 := func(tid int32, a sysabi.CloneArgs, size int) int32 {
		t.Helper()
		r := e.sys(tid, unix.SYS_CLONE3, m.cloneArgs(a, size), uint64(size))
		if r.Errno != 0 || r.GetClone() == nil || int64(r.GetClone().ChildTid) != r.Ret {
			t.Fatalf("clone3(%+v, %d): %v", a, size, r)
		}
		return r.GetClone().ChildTid
	}
	set := m.alloc([]byte{0x88, 0x13, 0, 0}) // 5000
	if got := clone3(1, sysabi.CloneArgs{ExitSignal: sigchld, SetTID: set, SetTIDSize: 1}, 88); got != 5000 {
		t.Errorf("clone3 with set_tid 5000 made %d", got)
	}
	e.fails(unix.EEXIST, 1, unix.SYS_CLONE3, m.cloneArgs(sysabi.CloneArgs{ExitSignal: sigchld, SetTID: set, SetTIDSize: 1}, 88), 88)

	// The exit signal is the parent's notice of the exit (caught: its
	// default would end the parent).
	act := func(handler, flags, mask uint64) uint64 {
		return m.alloc(ksignal.Action{Handler: handler, Flags: flags | ksignal.SARestorer, Restorer: 0x1234, Mask: mask}.Bytes())
	}
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR2), act(0x5000, 0, 0), 0, 8)
	usr2 := clone3(1, sysabi.CloneArgs{ExitSignal: uint64(unix.SIGUSR2)}, 64)
	before := e.signalsPushed(unix.SIGUSR2)
	e.sys(usr2, unix.SYS_EXIT_GROUP, 0)
	if got := e.signalsPushed(unix.SIGUSR2); got != before+1 {
		t.Errorf("a child with exit_signal SIGUSR2 exited: %d SIGUSR2 pushed, want 1", got-before)
	}
	if pid, _ := e.wait4(1, int64(usr2), unix.WALL); pid != int64(usr2) {
		t.Errorf("wait4(__WALL) of the SIGUSR2 child: %d", pid)
	}

	// CLONE_PIDFD with CLONE_PARENT_SETTID: the pidfd at pidfd (the
	// client writes the tid at parent_tid).
	pidfd, ptid := m.zeros(4), m.zeros(4)
	withFD := clone3(1, sysabi.CloneArgs{Flags: unix.CLONE_PIDFD | unix.CLONE_PARENT_SETTID, Pidfd: pidfd, ParentTID: ptid, ExitSignal: sigchld}, 88)
	pfd := uint64(m.u32(pidfd))
	if r := e.ok(1, unix.SYS_FCNTL, pfd, unix.F_GETFD); r != unix.FD_CLOEXEC {
		t.Errorf("clone3's pidfd %d: F_GETFD %d, want FD_CLOEXEC", pfd, r)
	}
	e.ok(1, unix.SYS_PIDFD_SEND_SIGNAL, pfd, uint64(unix.SIGKILL), 0, 0)
	if pid, _ := e.wait4(1, int64(withFD), 0); pid != int64(withFD) {
		t.Errorf("wait4 of the child killed through clone3's pidfd: %d, want %d", pid, withFD)
	}

	// CLONE_CLEAR_SIGHAND: caught signals back to SIG_DFL, ignored ones
	// kept, flags and masks cleared; the parent's table is untouched.
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR1), act(0x5000, ksignal.SARestart, 1<<3), 0, 8)
	e.ok(1, unix.SYS_RT_SIGACTION, uint64(unix.SIGUSR2), act(ksignal.SigIgn, ksignal.SARestart, 1<<3), 0, 8)
	query := func(tid int32, sig unix.Signal) ksignal.Action {
		old := m.zeros(ksignal.SizeofSigaction)
		e.ok(tid, unix.SYS_RT_SIGACTION, uint64(sig), 0, old, 8)
		return ksignal.ParseAction(m.bytes(old, ksignal.SizeofSigaction))
	}
	cleared := clone3(1, sysabi.CloneArgs{Flags: sysabi.CloneClearSighand, ExitSignal: sigchld}, 88)
	if got := query(cleared, unix.SIGUSR1); got != (ksignal.Action{}) {
		t.Errorf("CLONE_CLEAR_SIGHAND child's SIGUSR1: %+v, want SIG_DFL", got)
	}
	if got := query(cleared, unix.SIGUSR2); got != (ksignal.Action{Handler: ksignal.SigIgn}) {
		t.Errorf("CLONE_CLEAR_SIGHAND child's SIGUSR2: %+v, want SIG_IGN alone", got)
	}
	if got := query(1, unix.SIGUSR1); got.Handler != 0x5000 {
		t.Errorf("parent's SIGUSR1 after its child's CLONE_CLEAR_SIGHAND: %+v", got)
	}
	kept := clone3(1, sysabi.CloneArgs{ExitSignal: sigchld}, 64)
	if got := query(kept, unix.SIGUSR1); got.Handler != 0x5000 {
		t.Errorf("clone3 child's SIGUSR1 without CLONE_CLEAR_SIGHAND: %+v", got)
	}

	// A struct larger than Linux's with zero extra bytes; a struct
	// asking for CLONE_INTO_CGROUP.
	clone3(1, sysabi.CloneArgs{ExitSignal: sigchld}, 256)
	clone3(1, sysabi.CloneArgs{Flags: sysabi.CloneIntoCgroup, Cgroup: 3, ExitSignal: sigchld}, 88)
}
