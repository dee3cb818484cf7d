package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestUnshareSurvivesRecovery: after unshare, a server killed and
// restored from the log keeps the sharing unshare left: each task that
// unshared its fd table, fs context or undo list keeps its own (its fds,
// its umask), and the tasks that still share theirs still do (a close or
// umask in one is the other's), as kcmp and the calls see them. Each
// task unshares one thing, and the kill comes right after: the reply of
// that unshare alone carries the new sharing.
func TestUnshareSurvivesRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	fd := r.open("/tmp/a", unix.O_CREAT|unix.O_RDWR)
	clone := func(flags uint64) int32 {
		return r.sys(1, unix.SYS_CLONE, flags).GetClone().GetChildTid()
	}
	sharing := unix.CLONE_FILES | unix.CLONE_FS | unix.CLONE_SYSVSEM | uint64(unix.SIGCHLD)
	files, fs, sem, sharer := clone(sharing), clone(sharing), clone(sharing), clone(sharing)
	r.ok(files, unix.SYS_UNSHARE, unix.CLONE_FILES)
	r.ok(fs, unix.SYS_UNSHARE, unix.CLONE_FS)
	r.ok(sem, unix.SYS_UNSHARE, unix.CLONE_SYSVSEM)

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	for _, c := range []struct {
		t2     int32
		typ    uint64
		shared bool
	}{
		{files, kcmpFiles, false}, {files, kcmpFS, true}, {files, kcmpSysvsem, true},
		{fs, kcmpFiles, true}, {fs, kcmpFS, false}, {fs, kcmpSysvsem, true},
		{sem, kcmpFiles, true}, {sem, kcmpFS, true}, {sem, kcmpSysvsem, false},
		{sharer, kcmpFiles, true}, {sharer, kcmpFS, true}, {sharer, kcmpSysvsem, true},
	} {
		if got := r.ok(1, unix.SYS_KCMP, 1, uint64(c.t2), c.typ, 0, 0); (got == 0) != c.shared {
			t.Errorf("after the recovery, kcmp(1, %d, %d) = %d, want shared %v", c.t2, c.typ, got, c.shared)
		}
	}
	// A close in files is its own: the shared table keeps fd.
	r.ok(files, unix.SYS_CLOSE, fd)
	if rep := r.sys(files, unix.SYS_FCNTL, fd, unix.F_GETFD); rep.Errno != int32(unix.EBADF) {
		t.Errorf("fcntl(%d) in the task that closed it: %d errno %d, want EBADF", fd, rep.Ret, rep.Errno)
	}
	r.ok(1, unix.SYS_FCNTL, fd, unix.F_GETFD)
	// A close in the sharer is the first task's too.
	other := r.open("/tmp/a", unix.O_RDWR)
	r.ok(sharer, unix.SYS_CLOSE, other)
	if rep := r.sys(1, unix.SYS_FCNTL, other, unix.F_GETFD); rep.Errno != int32(unix.EBADF) {
		t.Errorf("fcntl(%d) after the sharer closed it: %d errno %d, want EBADF", other, rep.Ret, rep.Errno)
	}
	// The umask fs sets is its own; the shared context's is both.
	r.ok(fs, unix.SYS_UMASK, 077)
	if got := r.ok(1, unix.SYS_UMASK, 022); got != 022 {
		t.Errorf("umask the task with its own fs context set, seen by the first task: %#o, want 022", got)
	}
	r.ok(sharer, unix.SYS_UMASK, 07)
	if got := r.ok(1, unix.SYS_UMASK, 022); got != 07 {
		t.Errorf("umask the sharer set, seen by the first task: %#o, want 07", got)
	}
}
