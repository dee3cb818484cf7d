package server

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKcmpSurvivesRecovery: kcmp answers the same, order included, after
// the server is killed and the log restored into a new one: the address
// spaces, I/O contexts and undo lists that clones shared are still
// shared (ProcessState.vm, ThreadState.io and sysvsem), and files, fd
// tables, fs contexts and dispositions keep their ids.
func TestKcmpSurvivesRecovery(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	a := r.open("/tmp/a", unix.O_CREAT|unix.O_RDWR)
	r.ok(1, unix.SYS_DUP, a)
	r.open("/tmp/a", unix.O_RDWR)
	clone := func(flags uint64) int32 {
		return r.sys(1, unix.SYS_CLONE, flags).GetClone().GetChildTid()
	}
	tasks := []int32{1,
		clone(uint64(unix.SIGCHLD)),
		clone(unix.CLONE_VM | unix.CLONE_FILES | unix.CLONE_FS | unix.CLONE_SIGHAND | unix.CLONE_IO | unix.CLONE_SYSVSEM | uint64(unix.SIGCHLD)),
		clone(unix.CLONE_VM | uint64(unix.SIGCHLD)),
		clone(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM),
		clone(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_IO),
	}
	// The fork child's own file at fd 5.
	r.ok(tasks[1], unix.SYS_CLOSE, 5)
	r.ok(tasks[1], unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/a"), unix.O_RDWR, 0)

	answers := func() []string {
		var out []string
		for _, t1 := range tasks {
			for _, t2 := range tasks {
				for typ := uint64(kcmpVM); typ <= kcmpSysvsem; typ++ {
					out = append(out, fmt.Sprintf("kcmp(%d, %d, %d) = %d", t1, t2, typ, r.ok(1, unix.SYS_KCMP, uint64(t1), uint64(t2), typ, 0, 0)))
				}
				for fd1 := uint64(3); fd1 <= 5; fd1++ {
					for fd2 := uint64(3); fd2 <= 5; fd2++ {
						out = append(out, fmt.Sprintf("kcmp(%d, %d, FILE, %d, %d) = %d", t1, t2, fd1, fd2, r.ok(1, unix.SYS_KCMP, uint64(t1), uint64(t2), kcmpFile, fd1, fd2)))
					}
				}
			}
		}
		return out
	}
	before := answers()
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	after := answers()
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("before the recovery %s, after it %s", before[i], after[i])
		}
	}
	// The sharing is what the clones made, not only the same as before.
	for _, c := range []struct {
		t2   int32
		typ  uint64
		want int64
	}{{tasks[2], kcmpVM, 0}, {tasks[2], kcmpIO, 0}, {tasks[3], kcmpVM, 0}, {tasks[4], kcmpSysvsem, 0}, {tasks[5], kcmpIO, 0}} {
		if got := r.ok(1, unix.SYS_KCMP, 1, uint64(c.t2), c.typ, 0, 0); got != c.want {
			t.Errorf("after the recovery, kcmp(1, %d, %d) = %d, want %d", c.t2, c.typ, got, c.want)
		}
	}
}
