package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestKeptHandleExec checks that an exec of a binary whose last
// read-only description is gone (a process that ran it exited, or
// exec'd another image) opens it through the handle that description
// kept (vfs/kept.go), with the attributes cached for it: no Walk, Open
// nor Stat (a Walk and an Open before).
func TestKeptHandleExec(t *testing.T) {
	e, rc := countingEnv(t)
	freezeClock(e)
	m := e.mem
	argv := m.alloc(ptrs(m.str("busybox"), m.str("true"), 0))
	envp := m.alloc(ptrs(0))
	exec := func() map[string]int {
		rc.take()
		if r := e.sys(1, unix.SYS_EXECVE, m.str("/bin/busybox"), argv, envp); r.Errno != 0 {
			t.Fatalf("execve: %v", unix.Errno(r.Errno))
		}
		return rc.take()
	}
	exec()
	exec() // releases the first image's description: its handle is kept
	reused := onlyVFS(t, e).KeptReused()
	got := exec()
	t.Logf("gofer calls of the exec: %s", fmtCounts(got))
	if got["Walk"] != 0 || got["Open"] != 0 || got["Stat"] != 0 {
		t.Errorf("exec of a binary whose handle was kept: gofer calls %s, want no Walk, Open nor Stat", fmtCounts(got))
	}
	if onlyVFS(t, e).KeptReused() == reused {
		t.Errorf("the exec took no kept handle")
	}
}
