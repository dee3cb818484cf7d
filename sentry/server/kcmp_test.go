package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// kcmp(2)'s types (linux/kcmp.h).
const (
	kcmpFile = iota
	kcmpVM
	kcmpFiles
	kcmpFS
	kcmpSighand
	kcmpIO
	kcmpSysvsem
	kcmpEpollTFD
)

// kcmpSays is what kcmp answers for two objects: "eq" for the same one,
// "ne" for different ones that kcmp(a, b) and kcmp(b, a) order
// oppositely (1 and 2), the errno's name for a failure, else the raw
// answers.
func kcmpSays(sys func(tid int32, sysno uintptr, args ...uint64) (int64, unix.Errno), tid int32, pid1, pid2, typ, idx1, idx2 uint64) string {
	r, errno := sys(tid, unix.SYS_KCMP, pid1, pid2, typ, idx1, idx2)
	if errno != 0 {
		return unix.ErrnoName(errno)
	}
	if r == 0 {
		return "eq"
	}
	if typ == kcmpEpollTFD {
		r2 := 3 - r
		if r2 == 1 || r2 == 2 {
			return "ne"
		}
		return "unordered"
	}
	rr, errno := sys(tid, unix.SYS_KCMP, pid2, pid1, typ, idx2, idx1)
	if errno == 0 && ((r == 1 && rr == 2) || (r == 2 && rr == 1)) {
		return "ne"
	}
	return "unordered"
}

func (e *env) kcmp(tid int32, pid1, pid2 int32, typ, idx1, idx2 uint64) string {
	return kcmpSays(func(tid int32, sysno uintptr, args ...uint64) (int64, unix.Errno) {
		r := e.sys(tid, sysno, args...)
		return r.Ret, unix.Errno(r.Errno)
	}, tid, uint64(pid1), uint64(pid2), typ, idx1, idx2)
}

// kcmpSlot is a struct kcmp_epoll_slot in the application's memory.
func kcmpSlot(m *appMem, efd, tfd, toff uint32) uint64 {
	b := make([]byte, 12)
	binary.LittleEndian.PutUint32(b, efd)
	binary.LittleEndian.PutUint32(b[4:], tfd)
	binary.LittleEndian.PutUint32(b[8:], toff)
	return m.alloc(b)
}

// TestKcmp: kcmp tells which objects tasks share, by the clone flags
// that made them, and which fds name one open file description, with
// Linux's errors in Linux's order (the tasks, the caller's access, then
// the type).
func TestKcmp(t *testing.T) {
	e := started(t)
	m := e.mem
	const fileNull, fileNullDup, fileNullAgain = 3, 4, 5
	if fd := e.ok(1, unix.SYS_OPEN, m.str("/dev/null"), unix.O_RDONLY, 0); fd != fileNull {
		t.Fatalf("open: fd %d", fd)
	}
	e.ok(1, unix.SYS_DUP, fileNull)
	e.ok(1, unix.SYS_OPEN, m.str("/dev/null"), unix.O_RDONLY, 0)
	fork := e.fork(1)
	all := e.sys(1, unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_FILES|unix.CLONE_FS|unix.CLONE_SIGHAND|unix.CLONE_IO|unix.CLONE_SYSVSEM|uint64(unix.SIGCHLD)).GetClone().ChildTid
	vm := e.sys(1, unix.SYS_CLONE, unix.CLONE_VM|uint64(unix.SIGCHLD)).GetClone().ChildTid
	files := e.sys(1, unix.SYS_CLONE, unix.CLONE_FILES|unix.CLONE_FS|uint64(unix.SIGCHLD)).GetClone().ChildTid
	thread := e.sys(1, unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD|unix.CLONE_SYSVSEM).GetClone().ChildTid
	ioThread := e.sys(1, unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD|unix.CLONE_IO).GetClone().ChildTid
	// A file the fork child opened itself, at the same fd number as
	// the parent's reopened one.
	e.ok(fork, unix.SYS_CLOSE, fileNullAgain)
	e.ok(fork, unix.SYS_OPEN, m.str("/dev/null"), unix.O_RDONLY, 0)
	// An exec'ed vfork child has an address space of its own.
	vfork := e.sys(1, unix.SYS_VFORK).GetClone().ChildTid
	vforkBeforeExec := e.kcmp(1, 1, vfork, kcmpVM, 0, 0)
	if r := e.sys(vfork, unix.SYS_EXECVE, m.str("/bin/busybox"), m.alloc(ptrs(m.str("busybox"), 0)), 0); r.GetExec() == nil {
		t.Fatalf("execve: %v", r)
	}
	// Epoll watching the first file under fd fileNull.
	ep := uint64(e.ok(1, unix.SYS_EPOLL_CREATE1, 0))
	fds := m.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd, wfd := uint64(m.u32(fds)), uint64(m.u32(fds+4))
	e.ok(1, unix.SYS_EPOLL_CTL, ep, unix.EPOLL_CTL_ADD, rfd, m.alloc(make([]byte, 12)))
	// A zombie.
	zombie := e.fork(1)
	e.ok(zombie, unix.SYS_EXIT_GROUP, 0)
	// A task of another user.
	other := e.fork(1)
	e.ok(other, unix.SYS_SETRESUID, 1000, 1000, 1000)

	for _, tc := range []struct {
		name       string
		tid        int32
		pid1, pid2 int32
		typ        uint64
		idx1, idx2 uint64
		want       string
	}{
		{"file itself", 1, 1, 1, kcmpFile, fileNull, fileNull, "eq"},
		{"file dup", 1, 1, 1, kcmpFile, fileNull, fileNullDup, "eq"},
		{"file reopened", 1, 1, 1, kcmpFile, fileNull, fileNullAgain, "ne"},
		{"file inherited by fork", 1, 1, fork, kcmpFile, fileNull, fileNull, "eq"},
		{"file opened by the fork child", 1, 1, fork, kcmpFile, fileNullAgain, fileNullAgain, "ne"},
		{"file, fd's high bits ignored", 1, 1, 1, kcmpFile, fileNull, 1<<32 | fileNullDup, "eq"},
		{"file, bad fd", 1, 1, 1, kcmpFile, fileNull, 99, "EBADF"},
		{"file, zombie", 1, 1, zombie, kcmpFile, fileNull, fileNull, "EBADF"},

		{"fork vm", 1, 1, fork, kcmpVM, 0, 0, "ne"},
		{"fork files", 1, 1, fork, kcmpFiles, 0, 0, "ne"},
		{"fork fs", 1, 1, fork, kcmpFS, 0, 0, "ne"},
		{"fork sighand", 1, 1, fork, kcmpSighand, 0, 0, "ne"},
		{"fork io", 1, 1, fork, kcmpIO, 0, 0, "ne"},
		{"fork sysvsem", 1, 1, fork, kcmpSysvsem, 0, 0, "ne"},
		{"clone sharing all: vm", 1, 1, all, kcmpVM, 0, 0, "eq"},
		{"clone sharing all: files", 1, 1, all, kcmpFiles, 0, 0, "eq"},
		{"clone sharing all: fs", 1, 1, all, kcmpFS, 0, 0, "eq"},
		{"clone sharing all: sighand", 1, 1, all, kcmpSighand, 0, 0, "eq"},
		{"clone sharing all: io", 1, 1, all, kcmpIO, 0, 0, "eq"},
		{"clone sharing all: sysvsem", 1, 1, all, kcmpSysvsem, 0, 0, "eq"},
		{"CLONE_VM: vm", 1, 1, vm, kcmpVM, 0, 0, "eq"},
		{"CLONE_VM: files", 1, 1, vm, kcmpFiles, 0, 0, "ne"},
		{"CLONE_VM: fs", 1, 1, vm, kcmpFS, 0, 0, "ne"},
		{"CLONE_FILES|CLONE_FS: vm", 1, 1, files, kcmpVM, 0, 0, "ne"},
		{"CLONE_FILES|CLONE_FS: files", 1, 1, files, kcmpFiles, 0, 0, "eq"},
		{"CLONE_FILES|CLONE_FS: fs", 1, 1, files, kcmpFS, 0, 0, "eq"},
		{"thread vm", 1, 1, thread, kcmpVM, 0, 0, "eq"},
		{"thread sighand", 1, 1, thread, kcmpSighand, 0, 0, "eq"},
		{"thread sysvsem", 1, 1, thread, kcmpSysvsem, 0, 0, "eq"},
		{"thread io (no CLONE_IO)", 1, 1, thread, kcmpIO, 0, 0, "ne"},
		{"CLONE_IO thread io", 1, 1, ioThread, kcmpIO, 0, 0, "eq"},
		{"CLONE_IO thread sysvsem (no CLONE_SYSVSEM)", 1, 1, ioThread, kcmpSysvsem, 0, 0, "ne"},
		{"asked by a thread", thread, ioThread, thread, kcmpVM, 0, 0, "eq"},
		{"vfork child after exec vm", 1, 1, vfork, kcmpVM, 0, 0, "ne"},
		{"vfork child after exec file", 1, 1, vfork, kcmpFile, fileNull, fileNull, "eq"},
		{"zombie vm", 1, 1, zombie, kcmpVM, 0, 0, "ne"},
		{"zombie's vm is none, as another's", 1, zombie, zombie, kcmpVM, 0, 0, "eq"},

		{"epoll target", 1, 1, 1, kcmpEpollTFD, rfd, kcmpSlot(m, uint32(ep), uint32(rfd), 0), "eq"},
		{"epoll target, other file", 1, 1, 1, kcmpEpollTFD, wfd, kcmpSlot(m, uint32(ep), uint32(rfd), 0), "ne"},
		{"epoll target, fork child's file", 1, fork, 1, kcmpEpollTFD, fileNullAgain, kcmpSlot(m, uint32(ep), uint32(rfd), 0), "ne"},
		{"epoll second target", 1, 1, 1, kcmpEpollTFD, rfd, kcmpSlot(m, uint32(ep), uint32(rfd), 1), "ENOENT"},
		{"epoll fd not watched", 1, 1, 1, kcmpEpollTFD, rfd, kcmpSlot(m, uint32(ep), uint32(wfd), 0), "ENOENT"},
		{"epoll not an epoll", 1, 1, 1, kcmpEpollTFD, rfd, kcmpSlot(m, uint32(wfd), uint32(rfd), 0), "EINVAL"},
		{"epoll bad efd", 1, 1, 1, kcmpEpollTFD, rfd, kcmpSlot(m, 99, uint32(rfd), 0), "EBADF"},
		{"epoll bad fd", 1, 1, 1, kcmpEpollTFD, 99, kcmpSlot(m, uint32(ep), uint32(rfd), 0), "EBADF"},
		{"epoll slot unreadable", 1, 1, 1, kcmpEpollTFD, rfd, 8, "EFAULT"},

		{"no such pid", 1, 1, 4000, kcmpVM, 0, 0, "ESRCH"},
		{"pid 0", 1, 0, 1, kcmpVM, 0, 0, "ESRCH"},
		{"bad type", 1, 1, 1, 8, 0, 0, "EINVAL"},
		{"negative type", 1, 1, 1, 1<<64 - 1, 0, 0, "EINVAL"},
		{"no such pid before bad type", 1, 1, 4000, 8, 0, 0, "ESRCH"},
		{"other user's", other, other, 1, kcmpVM, 0, 0, "EPERM"},
		{"other user's, bad type", other, 1, other, 8, 0, 0, "EPERM"},
		{"own, as other user", other, other, other, kcmpVM, 0, 0, "eq"},
		{"root may inspect other users'", 1, 1, other, kcmpVM, 0, 0, "ne"},
	} {
		if got := e.kcmp(tc.tid, tc.pid1, tc.pid2, tc.typ, tc.idx1, tc.idx2); got != tc.want {
			t.Errorf("%s: kcmp(%d, %d, %d, %d, %#x) from %d = %s, want %s", tc.name, tc.pid1, tc.pid2, tc.typ, tc.idx1, tc.idx2, tc.tid, got, tc.want)
		}
	}
	if vforkBeforeExec != "eq" {
		t.Errorf("vfork child before exec: vm %s, want eq", vforkBeforeExec)
	}
}
