package server

import (
	"fmt"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

const (
	crUnshare = uint64(linux.CLOSE_RANGE_UNSHARE)
	crCloexec = uint64(linux.CLOSE_RANGE_CLOEXEC)
	maxU32    = 1<<32 - 1
)

// fdView is which of a set of fds a process has open and with which
// close-on-exec flag, as fcntl F_GETFD tells: "3 4e" (closed fds left
// out).
type fdView string

// viewFDs asks tid's fd table about fds through sys.
func viewFDs(sys func(tid int32, sysno uintptr, args ...uint64) (int64, unix.Errno), tid int32, fds []uint64) fdView {
	var out []string
	for _, fd := range fds {
		ret, errno := sys(tid, unix.SYS_FCNTL, fd, unix.F_GETFD)
		switch {
		case errno == unix.EBADF:
		case errno != 0:
			out = append(out, fmt.Sprintf("%d:%v", fd, errno))
		case ret&unix.FD_CLOEXEC != 0:
			out = append(out, fmt.Sprintf("%de", fd))
		default:
			out = append(out, fmt.Sprint(fd))
		}
	}
	return fdView(fmt.Sprint(out))
}

func (e *env) view(tid int32, fds []uint64) fdView {
	return viewFDs(func(tid int32, sysno uintptr, args ...uint64) (int64, unix.Errno) {
		r := e.sys(tid, sysno, args...)
		return r.Ret, unix.Errno(r.Errno)
	}, tid, fds)
}

func (r *replayer) view(tid int32, fds []uint64) fdView {
	return viewFDs(func(tid int32, sysno uintptr, args ...uint64) (int64, unix.Errno) {
		rep := r.sys(tid, sysno, args...)
		return rep.Ret, unix.Errno(rep.Errno)
	}, tid, fds)
}

// loggedView is viewFDs of pid's fd table as the client's folded log
// holds it (what a recovery restores).
func (r *replayer) loggedView(pid int32, fds []uint64) fdView {
	var out []string
	for _, fd := range fds {
		rec := r.loggedFD(pid, fd)
		switch {
		case rec == nil:
		case rec.Cloexec:
			out = append(out, fmt.Sprintf("%de", fd))
		default:
			out = append(out, fmt.Sprint(fd))
		}
	}
	return fdView(fmt.Sprint(out))
}

// loggedFD is the record of fd of pid's table in the client's folded log
// (nil: none).
func (r *replayer) loggedFD(pid int32, fd uint64) *sentrypb.FdState {
	r.mu.Lock()
	defer r.mu.Unlock()
	proc := r.log[statekey.Proc(pid).String()].GetProcess()
	if proc == nil {
		r.t.Fatalf("no record of process %d", pid)
	}
	return r.log[statekey.FD(proc.FdTable, int32(fd)).String()].GetFd()
}

// TestCloseRange: close_range(2)'s errors (EINVAL for a flag it does not
// know and for first past last, before anything changes), the open fds
// in [first, last] it closes or flags, with unsigned bounds (~0U), and
// CLOSE_RANGE_UNSHARE of a table the process has alone.
func TestCloseRange(t *testing.T) {
	fds := []uint64{3, 4, 5, 10, 100, 1000}
	tests := []struct {
		name               string
		first, last, flags uint64
		want               unix.Errno
		after              fdView
	}{
		{name: "a range", first: 4, last: 10, after: "[3 100 1000]"},
		{name: "one fd", first: 5, last: 5, after: "[3 4 10 100 1000]"},
		{name: "a free fd", first: 6, last: 6, after: "[3 4 5 10 100 1000]"},
		{name: "from 5 to ~0U", first: 5, last: maxU32, after: "[3 4]"},
		{name: "~0U alone", first: maxU32, last: maxU32, after: "[3 4 5 10 100 1000]"},
		{name: "from fd 0", first: 0, last: 4, after: "[5 10 100 1000]"},
		{name: "cloexec", first: 4, last: 100, flags: crCloexec, after: "[3 4e 5e 10e 100e 1000]"},
		{name: "cloexec to ~0U", first: 0, last: maxU32, flags: crCloexec, after: "[3e 4e 5e 10e 100e 1000e]"},
		{name: "unshare of an own table", first: 10, last: 100, flags: crUnshare, after: "[3 4 5 1000]"},
		{name: "unshare and cloexec", first: 10, last: 100, flags: crUnshare | crCloexec, after: "[3 4 5 10e 100e 1000]"},
		{name: "an unknown flag", first: 4, last: 10, flags: 1, want: unix.EINVAL, after: "[3 4 5 10 100 1000]"},
		{name: "a flag past them", first: 4, last: 10, flags: 8, want: unix.EINVAL, after: "[3 4 5 10 100 1000]"},
		{name: "every flag", first: 3, last: maxU32, flags: maxU32, want: unix.EINVAL, after: "[3 4 5 10 100 1000]"},
		{name: "first past last", first: 10, last: 4, want: unix.EINVAL, after: "[3 4 5 10 100 1000]"},
	}
	e := started(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			// The same fds before each case: dup2 of a new description
			// (which also clears their close-on-exec flag).
			src := e.open("/tmp/cr", unix.O_RDWR|unix.O_CREAT)
			for _, fd := range fds {
				if fd != src {
					e.ok(1, unix.SYS_DUP2, src, fd)
				}
			}
			if !slices.Contains(fds, src) {
				e.ok(1, unix.SYS_CLOSE, src)
			}
			if got := e.view(1, fds); got != "[3 4 5 10 100 1000]" {
				t.Fatalf("before: %s", got)
			}
			if rep := e.sys(1, unix.SYS_CLOSE_RANGE, tc.first, tc.last, tc.flags); unix.Errno(rep.Errno) != tc.want {
				t.Errorf("close_range(%d, %d, %#x): errno %v, want %v", tc.first, tc.last, tc.flags, unix.Errno(rep.Errno), tc.want)
			}
			if got := e.view(1, fds); got != tc.after {
				t.Errorf("after: %s, want %s", got, tc.after)
			}
		})
	}
}

// TestCloseRangeSharedTable: in a process sharing its fd table with its
// parent (clone's CLONE_FILES), close_range closes or flags the parent's
// fds too, unless CLOSE_RANGE_UNSHARE gave the child a table of its own
// first: the parent's fds then stay as they were, and a new fd of the
// child's is not the parent's. From a thread of a multithreaded process
// CLOSE_RANGE_UNSHARE fails EINVAL and changes nothing.
func TestCloseRangeSharedTable(t *testing.T) {
	fds := []uint64{3, 4, 11}
	tests := []struct {
		name string
		// thread: the child is a thread of the caller's process.
		thread        bool
		flags         uint64
		want          unix.Errno
		child, parent fdView
	}{
		{name: "shared", child: "[4 11]", parent: "[4 11]"},
		{name: "unshared", flags: crUnshare, child: "[4 11]", parent: "[3 4]"},
		{name: "cloexec shared", flags: crCloexec, child: "[3e 4 11]", parent: "[3e 4 11]"},
		{name: "cloexec unshared", flags: crCloexec | crUnshare, child: "[3e 4 11]", parent: "[3 4]"},
		// A thread's table is its process's: Linux would give the
		// thread a copy of its own; here it fails, as unshare's
		// CLONE_FILES from a thread does, rather than close or flag
		// the fds of every thread.
		{name: "unshared from a thread", thread: true, flags: crUnshare, want: unix.EINVAL, child: "[3 4 11]", parent: "[3 4 11]"},
		{name: "cloexec unshared from a thread", thread: true, flags: crCloexec | crUnshare, want: unix.EINVAL, child: "[3 4 11]", parent: "[3 4 11]"},
		{name: "cloexec shared with a thread", thread: true, flags: crCloexec, child: "[3e 4 11]", parent: "[3e 4 11]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			if fd := e.open("/tmp/cr", unix.O_RDWR|unix.O_CREAT); fd != 3 {
				t.Fatalf("open: fd %d, want 3", fd)
			}
			e.ok(1, unix.SYS_DUP2, 3, 4)
			flags := unix.CLONE_FILES | uint64(unix.SIGCHLD)
			if tc.thread {
				flags = unix.CLONE_FILES | unix.CLONE_THREAD | unix.CLONE_SIGHAND | unix.CLONE_VM | unix.CLONE_FS
			}
			child := e.sys(1, unix.SYS_CLONE, flags).GetClone().GetChildTid()
			if child == 0 {
				t.Fatal("clone made no child")
			}
			if rep := e.sys(child, unix.SYS_CLOSE_RANGE, 3, 3, tc.flags); unix.Errno(rep.Errno) != tc.want {
				t.Errorf("close_range(3, 3, %#x): errno %v, want %v", tc.flags, unix.Errno(rep.Errno), tc.want)
			}
			e.ok(child, unix.SYS_DUP2, 4, 11)
			if got := e.view(child, fds); got != tc.child {
				t.Errorf("the child's fds: %s, want %s", got, tc.child)
			}
			if got := e.view(1, fds); got != tc.parent {
				t.Errorf("the parent's fds: %s, want %s", got, tc.parent)
			}
		})
	}
}

// TestCloseRangeRecovery: close_range's changes are replay state, as a
// close's: the fd records its reply carries leave the client's log
// without the fds it closed and with the flags it set, and a process's
// table of its own after CLOSE_RANGE_UNSHARE, which a successor restores;
// a close_range whose reply died with the server (its records not in the
// log) is re-sent to it and closes the fds again.
func TestCloseRangeRecovery(t *testing.T) {
	fds := []uint64{3, 4, 5, 10, 100}
	r := newReplayer(t)
	r.start()
	if fd := r.open("/tmp/cr", unix.O_RDWR|unix.O_CREAT); fd != 3 {
		t.Fatalf("open: fd %d, want 3", fd)
	}
	for _, fd := range fds[1:] {
		r.ok(1, unix.SYS_DUP2, 3, fd)
	}
	child := r.sys(1, unix.SYS_CLONE, unix.CLONE_FILES|uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	if child == 0 {
		t.Fatal("clone made no child")
	}
	r.ok(child, unix.SYS_CLOSE_RANGE, 4, 4, crUnshare)
	r.ok(1, unix.SYS_CLOSE_RANGE, 10, maxU32, 0)
	r.ok(1, unix.SYS_CLOSE_RANGE, 3, 3, crCloexec)
	lost := r.syscallCall(1, unix.SYS_CLOSE_RANGE, 4, 4, 0)
	if rep := r.call(lost, true); rep.Errno != 0 {
		t.Fatalf("close_range: errno %v", unix.Errno(rep.Errno))
	}
	const parent, childFDs = "[3e 4 5]", "[3 5 10 100]"
	for _, c := range []struct {
		pid  int32
		want fdView
	}{{1, parent}, {child, childFDs}} {
		if got := r.loggedView(c.pid, fds); got != c.want {
			t.Errorf("process %d's fds in the log: %s, want %s", c.pid, got, c.want)
		}
	}
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	// The client re-sends its calls in flight first.
	if rep := r.call(lost, false); rep.Errno != 0 {
		t.Fatalf("re-sent close_range: errno %v", unix.Errno(rep.Errno))
	}
	if got := r.view(1, fds); got != "[3e 5]" {
		t.Errorf("the parent's fds after the re-sent close_range: %s, want [3e 5]", got)
	}
	if got := r.view(child, fds); got != childFDs {
		t.Errorf("the child's fds after the re-sent close_range: %s, want %s", got, childFDs)
	}
}
