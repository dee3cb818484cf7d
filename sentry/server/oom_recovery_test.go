package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestOOMScoreAdjSurvivesRestore: a process's oom_score_adj and
// oom_score_adj_min (which a privileged write sets and fork copies) come
// back after the server is replaced: a child that raised its own without
// CAP_SYS_RESOURCE still reads it and may go back down to its parent's
// privileged value and no lower, and its fork after the restore
// inherits the value.
func TestOOMScoreAdjSurvivesRestore(t *testing.T) {
	r := newReplayer(t)
	r.start()
	// Root with every capability: -300 is the minimum too.
	r.writeProc("/proc/self/oom_score_adj", "-300")
	child := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	if child == 0 {
		t.Fatal("fork failed")
	}
	openIn := func(tid int32, path string, flags uint64) uint64 {
		t.Helper()
		return uint64(r.ok(tid, unix.SYS_OPENAT, uint64(atFDCWD64), r.mem.str(path), flags, 0))
	}
	// Opened before the child gives up root, as its /proc files are
	// root's after (it is no longer dumpable).
	wfd := openIn(child, "/proc/self/oom_score_adj", unix.O_WRONLY)
	r.ok(child, unix.SYS_SETRESUID, 65534, 65534, 65534)
	writeAdj := func(tid int32, s string) unix.Errno {
		t.Helper()
		return unix.Errno(r.sys(tid, unix.SYS_WRITE, wfd, r.mem.alloc([]byte(s)), uint64(len(s))).Errno)
	}
	if e := writeAdj(child, "100"); e != 0 {
		t.Fatalf("unprivileged raise to 100: %v", e)
	}

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}

	read := func(tid int32, path string) string {
		t.Helper()
		return r.readStr(tid, openIn(tid, path, unix.O_RDONLY), 16)
	}
	if got := read(1, "/proc/self/oom_score_adj"); got != "-300\n" {
		t.Errorf("parent's oom_score_adj after restore: %q, want -300", got)
	}
	if got := read(child, "/proc/self/oom_score_adj"); got != "100\n" {
		t.Errorf("child's oom_score_adj after restore: %q, want 100", got)
	}
	if got := read(1, "/proc/self/oom_adj"); got != "-5\n" {
		t.Errorf("parent's oom_adj after restore: %q, want -5", got)
	}
	grandchild := r.sys(child, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	if grandchild == 0 {
		t.Fatal("fork after restore failed")
	}
	if got := read(grandchild, "/proc/self/oom_score_adj"); got != "100\n" {
		t.Errorf("fork after restore: oom_score_adj %q, want 100", got)
	}
	// The child's minimum came back: -301 is below it, -300 is not.
	if e := writeAdj(child, "-301"); e != unix.EACCES {
		t.Errorf("unprivileged write of -301 after restore: %v, want EACCES", e)
	}
	if e := writeAdj(child, "-300"); e != 0 {
		t.Errorf("unprivileged write of -300 after restore: %v, want done", e)
	}
	if got := read(child, "/proc/self/oom_score_adj"); got != "-300\n" {
		t.Errorf("child's oom_score_adj after writing -300: %q", got)
	}
}
