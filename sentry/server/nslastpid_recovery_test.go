package server

import (
	"encoding/binary"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNsLastPidRecovery: a write of /proc/sys/kernel/ns_last_pid goes with
// the id allocators' record, so that the next fork after a server failure
// gets the pid it would have had: the one after the value written, not
// after the highest id restored.
func TestNsLastPidRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	lastPID := func() string {
		t.Helper()
		fd := r.open("/proc/sys/kernel/ns_last_pid", unix.O_RDONLY)
		defer r.ok(1, unix.SYS_CLOSE, fd)
		return r.readStr(1, fd, 32)
	}
	// Live children at 500 and 501 (their records keep them), then the
	// last pid moved below them.
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", "499"))
	if a, b := r.fork(), r.fork(); a != 500 || b != 501 {
		t.Fatalf("forks after ns_last_pid 499: %d %d, want 500 501", a, b)
	}
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", "99"))
	if got := lastPID(); got != "99\n" {
		t.Fatalf("ns_last_pid %q after writing 99", got)
	}
	r.crash()
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	if got := lastPID(); got != "99\n" {
		t.Errorf("ns_last_pid after the restore %q, want 99", got)
	}
	if got := r.fork(); got != 100 {
		t.Errorf("fork after the restore: pid %d, want 100", got)
	}
	// The ids in use stay skipped.
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", strconv.Itoa(499)))
	if got := r.fork(); got != 502 {
		t.Errorf("fork after ns_last_pid 499 with 500 and 501 live: pid %d, want 502", got)
	}
}

// writeProc opens path for writing, writes s and returns the fd.
// fork makes a child of thread 1 with fork(2)'s clone and returns its
// pid; a failure ends the test.
func (r *replayer) fork() int32 {
	r.t.Helper()
	rep := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD))
	if rep.Errno != 0 {
		r.t.Fatalf("fork: %v", unix.Errno(rep.Errno))
	}
	return int32(rep.Ret)
}

func (r *replayer) writeProc(path, s string) uint64 {
	r.t.Helper()
	fd := r.open(path, unix.O_WRONLY)
	r.write(1, fd, s, nil)
	return fd
}

// TestProcPidDirReusedPid: a /proc/<pid> directory fd refers to the
// process it was opened for: once that process is reaped and its id
// given to another (ns_last_pid), pidfd_send_signal through it is ESRCH
// and the new process's directory has another inode, in the low 32 bits
// too (LTP pidfd_send_signal03 keeps an int).
func TestProcPidDirReusedPid(t *testing.T) {
	r := newReplayer(t)
	r.start()
	ino := func(fd uint64) uint64 {
		st := r.mem.zeros(144)
		r.ok(1, unix.SYS_FSTAT, fd, st)
		return binary.LittleEndian.Uint64(r.mem.bytes(st, 16)[8:])
	}
	child := r.fork()
	dir := r.open("/proc/"+strconv.Itoa(int(child)), unix.O_RDONLY|unix.O_DIRECTORY)
	status := r.open("/proc/"+strconv.Itoa(int(child))+"/status", unix.O_RDONLY)
	fds := r.open("/proc/"+strconv.Itoa(int(child))+"/fd", unix.O_RDONLY|unix.O_DIRECTORY)
	r.ok(1, unix.SYS_PIDFD_SEND_SIGNAL, dir, 0, 0, 0)
	r.ok(1, unix.SYS_KILL, uint64(child), uint64(unix.SIGKILL))
	r.ok(1, unix.SYS_WAIT4, uint64(child), 0, 0, 0)
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", strconv.Itoa(int(child)-1)))
	if again := r.fork(); again != child {
		t.Fatalf("fork after ns_last_pid %d: pid %d", child-1, again)
	}
	if rep := r.sys(1, unix.SYS_PIDFD_SEND_SIGNAL, dir, 0, 0, 0); unix.Errno(rep.Errno) != unix.ESRCH {
		t.Errorf("pidfd_send_signal through the reaped process's /proc dir: %v, want ESRCH", unix.Errno(rep.Errno))
	}
	if errno := unix.Errno(r.sys(1, unix.SYS_OPENAT, dir, r.mem.alloc([]byte("status\x00")), unix.O_RDONLY, 0).Errno); errno != unix.ENOENT {
		t.Errorf("openat(status) in the reaped process's /proc dir: %v, want ENOENT (not the new process's)", errno)
	}
	if errno := unix.Errno(r.sys(1, unix.SYS_READLINKAT, fds, r.mem.alloc([]byte("0\x00")), r.mem.zeros(256), 256).Errno); errno != unix.ENOENT {
		t.Errorf("readlinkat(0) in the reaped process's /proc fd dir: %v, want ENOENT (not the new process's)", errno)
	}
	// The first read shows what the open took; the next at offset 0
	// takes it again.
	r.sys(1, unix.SYS_PREAD64, status, r.mem.zeros(4096), 4096, 0)
	if errno := unix.Errno(r.sys(1, unix.SYS_PREAD64, status, r.mem.zeros(4096), 4096, 0).Errno); errno != unix.ESRCH {
		t.Errorf("pread of the reaped process's status: %v, want ESRCH (not the new process's)", errno)
	}
	now := r.open("/proc/"+strconv.Itoa(int(child)), unix.O_RDONLY|unix.O_DIRECTORY)
	r.ok(1, unix.SYS_PIDFD_SEND_SIGNAL, now, 0, 0, 0)
	if a, b := ino(dir), ino(now); uint32(a) == uint32(b) {
		t.Errorf("/proc/%d of the new process has the old one's inode %#x in its low 32 bits", child, a)
	}
}

// TestProcPidDirRecovery: a /proc/<pid> directory fd survives a server
// failure referring to the process it was opened for, with its inode
// number: a live one, one reaped before the failure (still open: fstat
// works, pidfd_send_signal is ESRCH, its names are gone), and one whose
// id was given to another process before the failure.
func TestProcPidDirRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	reap := func(pid int32) {
		t.Helper()
		r.ok(1, unix.SYS_KILL, uint64(pid), uint64(unix.SIGKILL))
		r.ok(1, unix.SYS_WAIT4, uint64(pid), 0, 0, 0)
	}
	ino := func(fd uint64) (uint64, unix.Errno) {
		st := r.mem.zeros(144)
		if rep := r.sys(1, unix.SYS_FSTAT, fd, st); rep.Errno != 0 {
			return 0, unix.Errno(rep.Errno)
		}
		return binary.LittleEndian.Uint64(r.mem.bytes(st, 16)[8:]), 0
	}
	opendir := func(pid int32) uint64 {
		return r.open("/proc/"+strconv.Itoa(int(pid)), unix.O_RDONLY|unix.O_DIRECTORY)
	}
	live := r.fork()
	liveDir := opendir(live)
	reaped := r.fork()
	reapedDir := opendir(reaped)
	reap(reaped)
	reused := r.fork()
	reusedDir := opendir(reused)
	reap(reused)
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", strconv.Itoa(int(reused)-1)))
	if again := r.fork(); again != reused {
		t.Fatalf("fork after ns_last_pid %d: pid %d", reused-1, again)
	}
	cases := []struct {
		name  string
		fd    uint64
		alive bool
		ino   uint64
	}{{"live", liveDir, true, 0}, {"reaped", reapedDir, false, 0}, {"reused", reusedDir, false, 0}}
	for i := range cases {
		n, errno := ino(cases[i].fd)
		if errno != 0 {
			t.Fatalf("%s: fstat before the failure: %v", cases[i].name, errno)
		}
		cases[i].ino = n
	}
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	status := r.mem.alloc([]byte("status\x00"))
	for _, tc := range cases {
		if n, errno := ino(tc.fd); errno != 0 || n != tc.ino {
			t.Errorf("%s: fstat after the failure: inode %#x, %v; want %#x", tc.name, n, errno, tc.ino)
		}
		wantSend, wantOpen := unix.ESRCH, unix.ENOENT
		if tc.alive {
			wantSend, wantOpen = 0, 0
		}
		if errno := unix.Errno(r.sys(1, unix.SYS_PIDFD_SEND_SIGNAL, tc.fd, 0, 0, 0).Errno); errno != wantSend {
			t.Errorf("%s: pidfd_send_signal through the directory: %v, want %v", tc.name, errno, wantSend)
		}
		if errno := unix.Errno(r.sys(1, unix.SYS_OPENAT, tc.fd, status, unix.O_RDONLY, 0).Errno); errno != wantOpen {
			t.Errorf("%s: openat(status) in the directory: %v, want %v", tc.name, errno, wantOpen)
		}
	}
	// The process that took the reused id has its own directory.
	now := opendir(reused)
	r.ok(1, unix.SYS_PIDFD_SEND_SIGNAL, now, 0, 0, 0)
}
