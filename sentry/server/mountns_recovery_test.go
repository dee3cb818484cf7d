package server

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMountNamespace: a child's unshare(CLONE_NEWNS) gives it a copy of
// the mounts: a mount it makes under a private mount is its own (the
// parent walks to the directory under it, its mountinfo has no line of
// it), an umount of its copy leaves the parent's, and one under a
// shared mount propagates to the parent's peer; the files of a copied
// tmpfs are the same. Its cwd in its own mount, and the two views, come
// back the same after a server kill, and its namespace's mounts (and
// their tmpfs directories) go once it exits.
func TestMountNamespace(t *testing.T) {
	r := newReplayer(t)
	r.start()
	m := r.mem
	for _, d := range []string{"mnt/a", "mnt/b", "mnt/c"} {
		os.MkdirAll(filepath.Join(r.root, d), 0755)
	}
	mountTmpfs := func(tid int32, at string) {
		t.Helper()
		r.ok(tid, unix.SYS_MOUNT, m.str("tmpfs"), m.str(at), m.str("tmpfs"), 0, 0)
	}
	mountTmpfs(1, "/mnt/a")
	r.ok(1, unix.SYS_MOUNT, 0, m.str("/mnt/a"), 0, unix.MS_SHARED, 0)
	r.ok(1, unix.SYS_MKDIR, m.str("/mnt/a/s"), 0755)
	mountTmpfs(1, "/mnt/b")
	r.ok(1, unix.SYS_MKDIR, m.str("/mnt/b/p"), 0755)
	mountTmpfs(1, "/mnt/c")
	parentDirs := len(tmpfsDirs(t, r.root))

	// Linux refuses a new namespace with a shared fs context.
	if rep := r.sys(1, unix.SYS_CLONE, unix.CLONE_NEWNS|unix.CLONE_FS|uint64(unix.SIGCHLD)); rep.Errno != int32(unix.EINVAL) {
		t.Errorf("clone(CLONE_NEWNS|CLONE_FS): %d errno %v, want EINVAL", rep.Ret, unix.Errno(rep.Errno))
	}
	child := int32(r.ok(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)))
	r.ok(child, unix.SYS_UNSHARE, unix.CLONE_NEWNS)
	mountTmpfs(child, "/mnt/b/p") // under a private mount: the child's
	// Under a shared mount: the parent's peer gets it too.
	r.ok(child, unix.SYS_MOUNT, m.str("/mnt/b"), m.str("/mnt/a/s"), 0, unix.MS_BIND, 0)
	r.ok(child, unix.SYS_UMOUNT2, m.str("/mnt/c"), 0)
	fd := r.ok(child, unix.SYS_OPEN, m.str("/mnt/b/p/f"), unix.O_CREAT|unix.O_WRONLY, 0644)
	r.ok(child, unix.SYS_CLOSE, uint64(fd))
	fd = r.ok(child, unix.SYS_OPEN, m.str("/mnt/b/shared"), unix.O_CREAT|unix.O_WRONLY, 0644)
	r.ok(child, unix.SYS_CLOSE, uint64(fd))
	r.ok(child, unix.SYS_CHDIR, m.str("/mnt/b/p"))

	mountinfo := func(tid int32, path string) string {
		t.Helper()
		fd := uint64(r.ok(tid, unix.SYS_OPEN, m.str(path), unix.O_RDONLY, 0))
		defer r.ok(tid, unix.SYS_CLOSE, fd)
		return r.readStr(tid, fd, 8192)
	}
	targets := func(mi string) string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(mi), "\n") {
			if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], "/mnt") {
				out = append(out, f[4])
			}
		}
		return strings.Join(out, " ")
	}
	exists := func(tid int32, path string) bool {
		return r.sys(tid, unix.SYS_STAT, m.str(path), m.zeros(144)).Errno == 0
	}
	check := func(when string) {
		t.Helper()
		if got, want := targets(mountinfo(1, "/proc/self/mountinfo")), "/mnt/a /mnt/b /mnt/c /mnt/a/s"; got != want {
			t.Errorf("%s: the parent's mounts %q, want %q", when, got, want)
		}
		if got, want := targets(mountinfo(1, "/proc/"+strconv.Itoa(int(child))+"/mountinfo")), "/mnt/a /mnt/b /mnt/b/p /mnt/a/s"; got != want {
			t.Errorf("%s: the child's mounts (read by the parent) %q, want %q", when, got, want)
		}
		if got := targets(mountinfo(child, "/proc/self/mounts")); got != "" {
			t.Errorf("%s: /proc/self/mounts of the child has mountinfo's fields: %q", when, got)
		}
		if exists(1, "/mnt/b/p/f") || !exists(child, "/mnt/b/p/f") {
			t.Errorf("%s: the file in the child's own mount: seen by the parent %v, by the child %v, want false, true", when, exists(1, "/mnt/b/p/f"), exists(child, "/mnt/b/p/f"))
		}
		if !exists(1, "/mnt/b/shared") {
			t.Errorf("%s: the file the child made in its copy of a tmpfs is not the parent's", when)
		}
		if !exists(child, "f") {
			t.Errorf("%s: the child's cwd is not in its own mount", when)
		}
		dev := func(tid int32, path string) uint64 {
			b := m.zeros(144)
			r.ok(tid, unix.SYS_STAT, m.str(path), b)
			return binary.LittleEndian.Uint64(m.bytes(b, 8)) // st_dev
		}
		if p, c, b := dev(1, "/mnt/a/s"), dev(child, "/mnt/a/s"), dev(1, "/mnt/b"); p != b || c != b {
			t.Errorf("%s: /mnt/a/s: the parent's device %#x, the child's %#x, want /mnt/b's %#x: the propagated bind mount in both", when, p, c, b)
		}
		if !exists(1, "/mnt/a/s/p") {
			t.Errorf("%s: the parent does not see /mnt/b's files through the propagated bind mount", when)
		}
	}
	check("before the kill")
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	check("after the recovery")
	// The child's namespace goes with it: its own mounts' directories too.
	r.ok(child, unix.SYS_EXIT_GROUP, 0)
	r.ok(1, unix.SYS_WAIT4, uint64(child), 0, 0, 0)
	r.ok(1, unix.SYS_UMOUNT2, m.str("/mnt/c"), 0) // a mount call reaps it
	if got := len(tmpfsDirs(t, r.root)); got != parentDirs-1 {
		t.Errorf("tmpfs directories after the child's exit and an umount: %d, want %d (the parent's, less /mnt/c)", got, parentDirs-1)
	}
}
