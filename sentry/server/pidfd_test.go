package server

import (
	"encoding/binary"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
)

// TestPidfdCalls checks the pidfd calls' answers and errors, in Linux's
// order, on one server.
func TestPidfdCalls(t *testing.T) {
	e := started(t)
	m := e.mem
	file := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/pf"), unix.O_RDWR|unix.O_CREAT, 0o644))
	child := e.fork(1)
	self := uint64(e.ok(1, unix.SYS_PIDFD_OPEN, 1, 0))
	cfd := uint64(e.ok(1, unix.SYS_PIDFD_OPEN, uint64(child), unix.O_NONBLOCK))
	info := func(sig int, code int32) uint64 {
		b := make([]byte, ksignal.SizeofSiginfo)
		binary.LittleEndian.PutUint32(b[0:], uint32(sig))
		binary.LittleEndian.PutUint32(b[8:], uint32(code))
		return m.alloc(b)
	}
	poll := func(fd uint64) uint64 {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(fd))
		binary.LittleEndian.PutUint16(b[4:], linux.POLLIN)
		a := m.alloc(b)
		e.ok(1, unix.SYS_POLL, a, 1, 0)
		return uint64(binary.LittleEndian.Uint16(m.bytes(a+6, 2)))
	}
	for _, tc := range []struct {
		name  string
		sysno uintptr
		args  []uint64
		want  unix.Errno
	}{
		{"open: pid 0", unix.SYS_PIDFD_OPEN, []uint64{0, 0}, unix.EINVAL},
		{"open: negative pid", unix.SYS_PIDFD_OPEN, []uint64{uint64(1<<32 - 1), 0}, unix.EINVAL},
		{"open: unknown flag", unix.SYS_PIDFD_OPEN, []uint64{1, 1}, unix.EINVAL},
		{"open: PIDFD_THREAD (Linux 6.9's)", unix.SYS_PIDFD_OPEN, []uint64{1, unix.O_EXCL}, unix.EINVAL},
		{"open: no such process", unix.SYS_PIDFD_OPEN, []uint64{4000, 0}, unix.ESRCH},
		{"send_signal: flags before the fd", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{999, 0, 0, 1}, unix.EINVAL},
		{"send_signal: closed fd", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{999, 0, 0, 0}, unix.EBADF},
		{"send_signal: not a pidfd", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{file, 0, 0, 0}, unix.EBADF},
		{"send_signal: siginfo of another signal", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{self, uint64(unix.SIGUSR1), info(int(unix.SIGUSR2), -1), 0}, unix.EINVAL},
		{"send_signal: a user's siginfo to another process", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{cfd, 0, info(0, 0), 0}, unix.EPERM},
		{"send_signal: bad signal", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{cfd, 65, 0, 0}, unix.EINVAL},
		{"send_signal: probe", unix.SYS_PIDFD_SEND_SIGNAL, []uint64{cfd, 0, 0, 0}, 0},
		{"getfd: flags", unix.SYS_PIDFD_GETFD, []uint64{cfd, 0, 1}, unix.EINVAL},
		{"getfd: not a pidfd", unix.SYS_PIDFD_GETFD, []uint64{file, 0, 0}, unix.EBADF},
		{"getfd: closed target fd", unix.SYS_PIDFD_GETFD, []uint64{cfd, 999, 0}, unix.EBADF},
		{"waitid: not a pidfd", unix.SYS_WAITID, []uint64{3, file, 0, unix.WEXITED, 0}, unix.EBADF},
		{"waitid: negative fd", unix.SYS_WAITID, []uint64{3, uint64(1<<32 - 1), 0, unix.WEXITED, 0}, unix.EINVAL},
		{"waitid: not a child", unix.SYS_WAITID, []uint64{3, self, 0, unix.WEXITED, 0}, unix.ECHILD},
		{"waitid: PIDFD_NONBLOCK, running", unix.SYS_WAITID, []uint64{3, cfd, 0, unix.WEXITED, 0}, unix.EAGAIN},
		{"waitid: PIDFD_NONBLOCK and WNOHANG, running", unix.SYS_WAITID, []uint64{3, cfd, 0, unix.WEXITED | unix.WNOHANG, 0}, 0},
		{"clone: CLONE_PIDFD with CLONE_PARENT_SETTID", unix.SYS_CLONE, []uint64{unix.CLONE_PIDFD | unix.CLONE_PARENT_SETTID | uint64(unix.SIGCHLD), 0, m.zeros(4)}, unix.EINVAL},
		{"clone: CLONE_PIDFD with CLONE_THREAD", unix.SYS_CLONE, []uint64{unix.CLONE_PIDFD | unix.CLONE_THREAD | unix.CLONE_SIGHAND | unix.CLONE_VM, 0, m.zeros(4)}, unix.EINVAL},
		{"clone: CLONE_PIDFD without parent_tid", unix.SYS_CLONE, []uint64{unix.CLONE_PIDFD | uint64(unix.SIGCHLD), 0, 0}, unix.EFAULT},
	} {
		r := e.sys(1, tc.sysno, tc.args...)
		if unix.Errno(r.Errno) != tc.want {
			t.Errorf("%s: errno %v (ret %d), want %v", tc.name, unix.Errno(r.Errno), r.Ret, tc.want)
		}
	}

	// The child's fds are the caller's to take, close-on-exec.
	got := uint64(e.ok(1, unix.SYS_PIDFD_GETFD, cfd, file, 0))
	if r := e.ok(1, unix.SYS_FCNTL, got, unix.F_GETFD); r != unix.FD_CLOEXEC {
		t.Errorf("pidfd_getfd's fd: F_GETFD %d, want FD_CLOEXEC", r)
	}
	if ev := poll(cfd); ev != 0 {
		t.Errorf("pidfd of a running child polls %#x", ev)
	}
	// Exited: readable; reaped: readable and hung up, signals ESRCH.
	e.sys(child, unix.SYS_EXIT_GROUP, 3)
	if ev := poll(cfd); ev != linux.POLLIN {
		t.Errorf("pidfd of a zombie polls %#x, want POLLIN", ev)
	}
	e.fails(unix.ESRCH, 1, unix.SYS_PIDFD_GETFD, cfd, 0, 0)
	e.ok(1, unix.SYS_PIDFD_SEND_SIGNAL, cfd, 0, 0, 0)
	si := m.zeros(ksignal.SizeofSiginfo)
	e.ok(1, unix.SYS_WAITID, 3, cfd, si, unix.WEXITED, 0)
	if pid, status := int32(m.u32(si+16)), int32(m.u32(si+24)); pid != child || status != 3 {
		t.Errorf("waitid(P_PIDFD): pid %d status %d, want %d 3", pid, status, child)
	}
	if ev := poll(cfd); ev != linux.POLLIN|linux.POLLHUP {
		t.Errorf("pidfd of a reaped child polls %#x, want POLLIN|POLLHUP", ev)
	}
	e.fails(unix.ESRCH, 1, unix.SYS_PIDFD_SEND_SIGNAL, cfd, 0, 0, 0)
	e.fails(unix.ECHILD, 1, unix.SYS_WAITID, 3, cfd, si, unix.WEXITED, 0)

	// clone(CLONE_PIDFD) writes a pidfd of the child at parent_tid.
	ptid := m.zeros(4)
	r := e.sys(1, unix.SYS_CLONE, unix.CLONE_PIDFD|uint64(unix.SIGCHLD), 0, ptid)
	if r.Errno != 0 || r.GetClone() == nil {
		t.Fatalf("clone(CLONE_PIDFD): %v", r)
	}
	pfd := uint64(m.u32(ptid))
	if r := e.ok(1, unix.SYS_FCNTL, pfd, unix.F_GETFD); r != unix.FD_CLOEXEC {
		t.Errorf("CLONE_PIDFD's fd: F_GETFD %d, want FD_CLOEXEC", r)
	}
	e.ok(1, unix.SYS_PIDFD_SEND_SIGNAL, pfd, uint64(unix.SIGKILL), 0, 0)
	e.ok(1, unix.SYS_WAITID, 3, pfd, si, unix.WEXITED, 0)
	if pid, code := int32(m.u32(si+16)), int32(m.u32(si+8)); pid != r.GetClone().ChildTid || code != 2 {
		t.Errorf("waitid(P_PIDFD) after SIGKILL: pid %d code %d, want %d CLD_KILLED", pid, code, r.GetClone().ChildTid)
	}
}

// TestPidfdRecovery checks that pidfds survive a server failure: the
// replayed records rebuild each at its fd, referring to the same
// process, a live one, a zombie (which waitid(P_PIDFD) then reaps), or
// one reaped before the failure (readable and hung up, its signals
// ESRCH), with its flags.
func TestPidfdRecovery(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	live := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	zombie := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	reaped := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	liveFD := uint64(r.ok(1, unix.SYS_PIDFD_OPEN, uint64(live), unix.O_NONBLOCK))
	zombieFD := uint64(r.ok(1, unix.SYS_PIDFD_OPEN, uint64(zombie), 0))
	reapedFD := uint64(r.ok(1, unix.SYS_PIDFD_OPEN, uint64(reaped), 0))
	r.sys(zombie, unix.SYS_EXIT_GROUP, 4)
	r.sys(reaped, unix.SYS_EXIT_GROUP, 5)
	si := m.zeros(ksignal.SizeofSiginfo)
	r.ok(1, unix.SYS_WAITID, 3, reapedFD, si, unix.WEXITED, 0)

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}

	poll := func(fd uint64) uint64 {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(fd))
		binary.LittleEndian.PutUint16(b[4:], linux.POLLIN)
		a := m.alloc(b)
		r.ok(1, unix.SYS_POLL, a, 1, 0)
		return uint64(binary.LittleEndian.Uint16(m.bytes(a+6, 2)))
	}
	for _, tc := range []struct {
		name string
		fd   uint64
		poll uint64
		send unix.Errno
	}{
		{"live", liveFD, 0, 0},
		{"zombie", zombieFD, linux.POLLIN, 0},
		{"reaped", reapedFD, linux.POLLIN | linux.POLLHUP, unix.ESRCH},
	} {
		if ev := poll(tc.fd); ev != tc.poll {
			t.Errorf("%s: polls %#x, want %#x", tc.name, ev, tc.poll)
		}
		if errno := unix.Errno(r.sys(1, unix.SYS_PIDFD_SEND_SIGNAL, tc.fd, 0, 0, 0).Errno); errno != tc.send {
			t.Errorf("%s: pidfd_send_signal errno %v, want %v", tc.name, errno, tc.send)
		}
		if fl := r.ok(1, unix.SYS_FCNTL, tc.fd, unix.F_GETFD); fl != unix.FD_CLOEXEC {
			t.Errorf("%s: F_GETFD %d, want FD_CLOEXEC", tc.name, fl)
		}
	}
	if fl := r.ok(1, unix.SYS_FCNTL, liveFD, unix.F_GETFL); fl&unix.O_NONBLOCK == 0 {
		t.Errorf("live: F_GETFL %#x lost PIDFD_NONBLOCK", fl)
	}
	if errno := unix.Errno(r.sys(1, unix.SYS_WAITID, 3, liveFD, si, unix.WEXITED, 0).Errno); errno != unix.EAGAIN {
		t.Errorf("waitid(P_PIDFD) of the live child: errno %v, want EAGAIN", errno)
	}
	r.ok(1, unix.SYS_WAITID, 3, zombieFD, si, unix.WEXITED, 0)
	if pid, status := int32(m.u32(si+16)), int32(m.u32(si+24)); pid != zombie || status != 4 {
		t.Errorf("waitid(P_PIDFD) of the zombie: pid %d status %d, want %d 4", pid, status, zombie)
	}
	if ev := poll(zombieFD); ev != linux.POLLIN|linux.POLLHUP {
		t.Errorf("reaped after recovery: polls %#x", ev)
	}
}

// TestPidfdReusedPidRecovery: a pidfd whose process was reaped, and its
// id given to another process (ns_last_pid), before a server failure
// still refers to no process after it: the records carry the process's
// generation (Process.Gen), not only its id.
func TestPidfdReusedPidRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	child := r.fork()
	fd := uint64(r.ok(1, unix.SYS_PIDFD_OPEN, uint64(child), 0))
	r.ok(1, unix.SYS_KILL, uint64(child), uint64(unix.SIGKILL))
	r.ok(1, unix.SYS_WAIT4, uint64(child), 0, 0, 0)
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", strconv.Itoa(int(child)-1)))
	if again := r.fork(); again != child {
		t.Fatalf("fork after ns_last_pid %d: pid %d", child-1, again)
	}
	// The same process made again by the restore, and a pidfd of it
	// opened before the failure, keep referring to each other.
	newFD := uint64(r.ok(1, unix.SYS_PIDFD_OPEN, uint64(child), 0))
	check := func(when string) {
		t.Helper()
		if errno := unix.Errno(r.sys(1, unix.SYS_PIDFD_SEND_SIGNAL, fd, 0, 0, 0).Errno); errno != unix.ESRCH {
			t.Errorf("%s: pidfd_send_signal through the reaped process's pidfd: %v, want ESRCH", when, errno)
		}
		if errno := unix.Errno(r.sys(1, unix.SYS_PIDFD_SEND_SIGNAL, newFD, 0, 0, 0).Errno); errno != 0 {
			t.Errorf("%s: pidfd_send_signal through the new process's pidfd: %v, want success", when, errno)
		}
	}
	check("before the failure")
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	check("after the failure")
	// A process made after the restore gets a generation of its own.
	r.ok(1, unix.SYS_KILL, uint64(child), uint64(unix.SIGKILL))
	r.ok(1, unix.SYS_WAIT4, uint64(child), 0, 0, 0)
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", strconv.Itoa(int(child)-1)))
	if again := r.fork(); again != child {
		t.Fatalf("fork after the restore and ns_last_pid %d: pid %d", child-1, again)
	}
	for _, when := range []string{"", " and a second failure"} {
		if when != "" {
			if rep := r.recover(nil); rep.Ret != 0 {
				t.Fatalf("the second Restore lost %d objects", rep.Ret)
			}
		}
		for name, f := range map[string]uint64{"first": fd, "second": newFD} {
			if errno := unix.Errno(r.sys(1, unix.SYS_PIDFD_SEND_SIGNAL, f, 0, 0, 0).Errno); errno != unix.ESRCH {
				t.Errorf("the %s reaped process's pidfd after a third process took its id%s: %v, want ESRCH", name, when, errno)
			}
		}
	}
}
