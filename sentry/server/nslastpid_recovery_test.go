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
	fork := func() int32 {
		t.Helper()
		rep := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD))
		if rep.Errno != 0 {
			t.Fatalf("fork: %v", unix.Errno(rep.Errno))
		}
		return int32(rep.Ret)
	}
	lastPID := func() string {
		t.Helper()
		fd := r.open("/proc/sys/kernel/ns_last_pid", unix.O_RDONLY)
		defer r.ok(1, unix.SYS_CLOSE, fd)
		return r.readStr(1, fd, 32)
	}
	// Live children at 500 and 501 (their records keep them), then the
	// last pid moved below them.
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", "499"))
	if a, b := fork(), fork(); a != 500 || b != 501 {
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
	if got := fork(); got != 100 {
		t.Errorf("fork after the restore: pid %d, want 100", got)
	}
	// The ids in use stay skipped.
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", strconv.Itoa(499)))
	if got := fork(); got != 502 {
		t.Errorf("fork after ns_last_pid 499 with 500 and 501 live: pid %d, want 502", got)
	}
}

// writeProc opens path for writing, writes s and returns the fd.
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
	fork := func() int32 {
		t.Helper()
		rep := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD))
		if rep.Errno != 0 {
			t.Fatalf("fork: %v", unix.Errno(rep.Errno))
		}
		return int32(rep.Ret)
	}
	ino := func(fd uint64) uint64 {
		st := r.mem.zeros(144)
		r.ok(1, unix.SYS_FSTAT, fd, st)
		return binary.LittleEndian.Uint64(r.mem.bytes(st, 16)[8:])
	}
	child := fork()
	dir := r.open("/proc/"+strconv.Itoa(int(child)), unix.O_RDONLY|unix.O_DIRECTORY)
	r.ok(1, unix.SYS_PIDFD_SEND_SIGNAL, dir, 0, 0, 0)
	r.ok(1, unix.SYS_KILL, uint64(child), uint64(unix.SIGKILL))
	r.ok(1, unix.SYS_WAIT4, uint64(child), 0, 0, 0)
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/kernel/ns_last_pid", strconv.Itoa(int(child)-1)))
	if again := fork(); again != child {
		t.Fatalf("fork after ns_last_pid %d: pid %d", child-1, again)
	}
	if rep := r.sys(1, unix.SYS_PIDFD_SEND_SIGNAL, dir, 0, 0, 0); unix.Errno(rep.Errno) != unix.ESRCH {
		t.Errorf("pidfd_send_signal through the reaped process's /proc dir: %v, want ESRCH", unix.Errno(rep.Errno))
	}
	now := r.open("/proc/"+strconv.Itoa(int(child)), unix.O_RDONLY|unix.O_DIRECTORY)
	r.ok(1, unix.SYS_PIDFD_SEND_SIGNAL, now, 0, 0, 0)
	if a, b := ino(dir), ino(now); uint32(a) == uint32(b) {
		t.Errorf("/proc/%d of the new process has the old one's inode %#x in its low 32 bits", child, a)
	}
}
