package server

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestChrootSurvivesRecovery: a process's root (chroot) is part of its
// fs record (FsState.root) and a restored server rebuilds it: after the
// server is killed, the chrooted fork child's absolute paths, ".." and
// getcwd still resolve under its root, its CLONE_FS sibling shares it,
// and the parent's are still the sandbox's.
func TestChrootSurvivesRecovery(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	r.ok(1, unix.SYS_MKDIR, m.str("/tmp/jail"), 0755)
	put := func(path, data string) {
		fd := r.open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
		r.ok(1, unix.SYS_WRITE, fd, m.alloc([]byte(data)), uint64(len(data)))
		r.ok(1, unix.SYS_CLOSE, fd)
	}
	put("/tmp/jail/x", "inside")
	r.ok(1, unix.SYS_MKDIR, m.str("/tmp/jail/in"), 0755)
	put("/tmp/jail/in/x", "deeper")
	put("/tmp/x", "outside")
	child := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	r.ok(child, unix.SYS_CHROOT, m.str("/tmp/jail"))
	sibling := r.sys(child, unix.SYS_CLONE, unix.CLONE_FS|uint64(unix.SIGCHLD)).GetClone().GetChildTid()

	read := func(tid int32, path string) string {
		fd := r.ok(tid, unix.SYS_OPENAT, uint64(atFDCWD64), m.str(path), unix.O_RDONLY, 0)
		defer r.ok(tid, unix.SYS_CLOSE, uint64(fd))
		return r.readStr(tid, uint64(fd), 64)
	}
	getcwd := func(tid int32) string {
		buf := m.zeros(256)
		n := r.ok(tid, unix.SYS_GETCWD, buf, 256)
		return string(m.bytes(buf, int(n)-1))
	}
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			tid        int32
			path, want string
		}{{1, "/x", ""}, {1, "/tmp/x", "outside"}, {child, "/x", "inside"}, {child, "/../../x", "inside"}, {sibling, "/x", "inside"}} {
			if c.want == "" {
				if rep := r.sys(c.tid, unix.SYS_OPENAT, uint64(atFDCWD64), m.str(c.path), unix.O_RDONLY, 0); rep.Errno != int32(unix.ENOENT) {
					t.Errorf("%s: task %d's open of %s: errno %v, want ENOENT", when, c.tid, c.path, unix.Errno(rep.Errno))
				}
				continue
			}
			if got := read(c.tid, c.path); got != c.want {
				t.Errorf("%s: task %d reads %q from %s, want %q", when, c.tid, got, c.path, c.want)
			}
		}
		// The cwd (/) was left outside the root.
		if got := getcwd(child); got != "(unreachable)/" {
			t.Errorf("%s: the child's getcwd is %q, want (unreachable)/", when, got)
		}
		if got := getcwd(1); got != "/" {
			t.Errorf("%s: the parent's getcwd is %q, want /", when, got)
		}
	}
	check("before the recovery")
	var roots []string
	for _, rec := range r.records() {
		if key, err := statekey.Parse(rec.GetKey()); err == nil && key.Kind == statekey.KindFS && len(rec.GetFs().GetRoot()) > 0 {
			roots = append(roots, string(rec.GetFs().GetRoot()))
		}
	}
	if len(roots) != 1 || roots[0] != "/tmp/jail" {
		t.Errorf("the fs records' roots are %q, want one /tmp/jail (the child's, shared by its sibling)", roots)
	}
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	check("after the recovery")
	// Still one context: the sibling's chroot (under the root) moves
	// the child's root.
	r.ok(sibling, unix.SYS_CHROOT, m.str("/in"))
	if got := read(child, "/x"); got != "deeper" {
		t.Errorf("after the sibling's chroot into /in, the child reads %q from /x, want deeper", got)
	}
}

// TestChrootLostRootRefusesRestore: a root the restore cannot find again
// (by its handle or path: here a record naming a directory that is not
// there) refuses the restore rather than bring its processes back
// confined nowhere, as a lost cwd would.
func TestChrootLostRootRefusesRestore(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	r.ok(1, unix.SYS_MKDIR, m.str("/tmp/jail"), 0755)
	child := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	r.ok(child, unix.SYS_CHROOT, m.str("/tmp/jail"))
	recs := r.restoreRecords(nil)
	rooted := 0
	for _, rec := range recs {
		if fs := rec.GetFs(); fs != nil && len(fs.Root) > 0 {
			fs.Root, fs.RootHandle = []byte("/tmp/nowhere"), nil
			rooted++
		}
	}
	if rooted != 1 {
		t.Fatalf("%d fs records with a root, want 1", rooted)
	}
	r.crash()
	r.startServer(true)
	rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Restore{Restore: &sentrypb.Restore{Records: recs}}}, false)
	if rep.Errno == 0 {
		t.Fatalf("the restore of a chrooted process whose root is not there succeeded (lost %d objects), want it refused", rep.Ret)
	}
}

// TestChrootKeptByCopies: a process's own copy of its fs context, by fork
// or by unshare(CLONE_FS) out of a CLONE_FS share, keeps the root: a copy
// that dropped it would let the process out of its chroot.
func TestChrootKeptByCopies(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	r.ok(1, unix.SYS_MKDIR, m.str("/tmp/jail"), 0755)
	fd := r.open("/tmp/jail/x", unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
	r.ok(1, unix.SYS_WRITE, fd, m.alloc([]byte("inside")), 6)
	r.ok(1, unix.SYS_CLOSE, fd)
	child := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	r.ok(child, unix.SYS_CHROOT, m.str("/tmp/jail"))
	forked := r.sys(child, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	sharer := r.sys(child, unix.SYS_CLONE, unix.CLONE_FS|uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	r.ok(sharer, unix.SYS_UNSHARE, unix.CLONE_FS)
	for _, tid := range []int32{forked, sharer} {
		fd := r.ok(tid, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/x"), unix.O_RDONLY, 0)
		if got := r.readStr(tid, uint64(fd), 64); got != "inside" {
			t.Errorf("task %d reads %q from /x, want inside (its root)", tid, got)
		}
		r.ok(tid, unix.SYS_CLOSE, uint64(fd))
	}
}
