package server

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// readFileAt reads path (up to 64 KiB) through open and read.
func (e *env) readFileAt(path string) string {
	e.t.Helper()
	fd := uint64(e.ok(1, unix.SYS_OPEN, e.mem.str(path), unix.O_RDONLY, 0))
	defer e.ok(1, unix.SYS_CLOSE, fd)
	buf := e.mem.zeros(65536)
	n := e.ok(1, unix.SYS_READ, fd, buf, 65536)
	return string(e.mem.bytes(buf, int(n)))
}

// readDirNames lists directory path's names (with getdents64), each
// followed by a space.
func (e *env) readDirNames(path string) string {
	e.t.Helper()
	fd := uint64(e.ok(1, unix.SYS_OPEN, e.mem.str(path), unix.O_RDONLY|unix.O_DIRECTORY, 0))
	defer e.ok(1, unix.SYS_CLOSE, fd)
	buf := e.mem.zeros(8192)
	out := " "
	for {
		n := int(e.ok(1, unix.SYS_GETDENTS64, fd, buf, 8192))
		if n == 0 {
			return out
		}
		b := e.mem.bytes(buf, n)
		for off := 0; off+19 <= n; {
			reclen := int(binary.LittleEndian.Uint16(b[off+16:]))
			name := b[off+19 : off+reclen]
			if i := strings.IndexByte(string(name), 0); i >= 0 {
				name = name[:i]
			}
			out += string(name) + " "
			if reclen == 0 {
				break
			}
			off += reclen
		}
	}
}

// tmpfsDirs lists the gofer directories backing tmpfs mounts under root.
func tmpfsDirs(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"dev/shm", "tmp"} {
		ents, _ := os.ReadDir(filepath.Join(root, dir))
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "rd-tmpfs-") {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	return out
}

func TestMountTmpfs(t *testing.T) {
	e := started(t)
	m := e.mem
	if err := os.MkdirAll(filepath.Join(e.root, "mnt/sub"), 0755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.root, "mnt/under"), []byte("x"), 0644); err != nil {
		t.Fatal(err)
	}
	tmpfs := m.str("tmpfs")
	e.ok(1, unix.SYS_MOUNT, m.str("scratch"), m.str("/mnt"), tmpfs, unix.MS_NOSUID|unix.MS_NODEV, m.str("size=1m,mode=0750,uid=5"))

	// The mount hides what was under it; its files live in its own
	// gofer directory.
	e.fails(unix.ENOENT, 1, unix.SYS_OPEN, m.str("/mnt/under"), unix.O_RDONLY, 0)
	fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/mnt/f"), unix.O_CREAT|unix.O_RDWR, 0644))
	e.ok(1, unix.SYS_WRITE, fd, m.alloc([]byte("data")), 4)
	dirs := tmpfsDirs(t, e.root)
	if len(dirs) != 1 {
		t.Fatalf("tmpfs directories %v, want one", dirs)
	}
	if b, err := os.ReadFile(filepath.Join(e.root, dirs[0], "f")); err != nil || string(b) != "data" {
		t.Errorf("backing file holds %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(e.root, dirs[0])); err != nil || st.Mode().Perm() != 0750 || st.Sys().(*syscall.Stat_t).Uid != 5 {
		t.Errorf("mount root %v, %v; want mode 0750 uid 5", st.Mode(), err)
	}

	// statfs: tmpfs's magic, size= as the total, the mount's flags.
	sf := m.zeros(120)
	e.ok(1, unix.SYS_STATFS, m.str("/mnt/f"), sf)
	if typ := binary.LittleEndian.Uint64(m.bytes(sf, 8)); typ != unix.TMPFS_MAGIC {
		t.Errorf("statfs type %#x, want TMPFS_MAGIC", typ)
	}
	if blocks := binary.LittleEndian.Uint64(m.bytes(sf+16, 8)); blocks != 256 {
		t.Errorf("statfs blocks %d, want 256 (1 MiB)", blocks)
	}
	if flags := binary.LittleEndian.Uint64(m.bytes(sf+80, 8)); flags != 0x20|0x2|0x4|0x1000 {
		t.Errorf("statfs flags %#x, want valid|nosuid|nodev|relatime", flags)
	}

	// mountinfo and mounts list it.
	mi := e.readFileAt("/proc/self/mountinfo")
	if !regexp.MustCompile(`(?m)^5 1 0:261 / /mnt rw,nosuid,nodev,relatime - tmpfs scratch rw,size=1024k,mode=750,uid=5$`).MatchString(mi) {
		t.Errorf("mountinfo:\n%s", mi)
	}
	if ms := e.readFileAt("/proc/mounts"); !strings.Contains(ms, "scratch /mnt tmpfs rw,nosuid,nodev,relatime,size=1024k,mode=750,uid=5 0 0\n") {
		t.Errorf("mounts:\n%s", ms)
	}

	// ".." leads out; names across the mount are other file systems.
	e.ok(1, unix.SYS_STAT, m.str("/mnt/../mnt/./f"), m.zeros(144))
	e.fails(unix.ENOENT, 1, unix.SYS_STAT, m.str("/mnt/sub"), m.zeros(144))
	e.fails(unix.EXDEV, 1, unix.SYS_RENAME, m.str("/mnt/f"), m.str("/tmp/f"))
	e.fails(unix.EXDEV, 1, unix.SYS_LINK, m.str("/mnt/f"), m.str("/tmp/f"))
	e.fails(unix.EBUSY, 1, unix.SYS_RMDIR, m.str("/mnt"))
	e.fails(unix.EBUSY, 1, unix.SYS_RENAME, m.str("/mnt"), m.str("/mnt2"))

	// umount: not a mount point, busy, then done.
	e.fails(unix.EINVAL, 1, unix.SYS_UMOUNT2, m.str("/tmp"), 0)
	e.fails(unix.EINVAL, 1, unix.SYS_UMOUNT2, m.str("/mnt"), 0x100)
	e.fails(unix.EBUSY, 1, unix.SYS_UMOUNT2, m.str("/mnt"), 0)
	e.ok(1, unix.SYS_CLOSE, fd)
	e.ok(1, unix.SYS_UMOUNT2, m.str("/mnt"), 0)
	e.ok(1, unix.SYS_STAT, m.str("/mnt/under"), m.zeros(144))
	if dirs := tmpfsDirs(t, e.root); len(dirs) != 0 {
		t.Errorf("tmpfs directories left after umount: %v", dirs)
	}
	if mi := e.readFileAt("/proc/self/mountinfo"); strings.Contains(mi, "/mnt") {
		t.Errorf("mountinfo after umount:\n%s", mi)
	}
}

func TestMountErrors(t *testing.T) {
	e := started(t)
	m := e.mem
	os.MkdirAll(filepath.Join(e.root, "mnt"), 0755)
	os.WriteFile(filepath.Join(e.root, "file"), nil, 0644)
	mnt, tmpfs := m.str("/mnt"), m.str("tmpfs")
	for _, tc := range []struct {
		name   string
		want   unix.Errno
		target uint64
		fstype uint64
		flags  uint64
		data   uint64
	}{
		{"unknown type", unix.ENODEV, mnt, m.str("nosuchfs"), 0, 0},
		{"block device type", unix.EPERM, mnt, m.str("ext4"), 0, 0},
		{"bad option", unix.EINVAL, mnt, tmpfs, 0, m.str("size=lots")},
		{"unknown option", unix.EINVAL, mnt, tmpfs, 0, m.str("colour=blue")},
		{"unknown flag", unix.EINVAL, mnt, tmpfs, 1 << 30, 0},
		{"on a file", unix.ENOTDIR, m.str("/file"), tmpfs, 0, 0},
		{"missing target", unix.ENOENT, m.str("/nope"), tmpfs, 0, 0},
		{"over /proc", unix.EINVAL, m.str("/proc"), tmpfs, 0, 0},
		{"remount of no mount", unix.EINVAL, mnt, tmpfs, unix.MS_REMOUNT, 0},
		{"propagation of no mount", unix.EINVAL, mnt, 0, unix.MS_PRIVATE, 0},
		{"two propagations", unix.EINVAL, m.str("/"), 0, unix.MS_PRIVATE | unix.MS_SHARED, 0},
	} {
		if r := e.sys(1, unix.SYS_MOUNT, tmpfs, tc.target, tc.fstype, tc.flags, tc.data); unix.Errno(r.Errno) != tc.want {
			t.Errorf("%s: errno %v, want %v", tc.name, unix.Errno(r.Errno), tc.want)
		}
	}
	e.ok(1, unix.SYS_MOUNT, 0, m.str("/"), 0, unix.MS_REC|unix.MS_PRIVATE, 0)
	e.fails(unix.EBUSY, 1, unix.SYS_UMOUNT2, m.str("/proc"), 0)

	// Remount read-only: writes are EROFS; MNT_DETACH of a busy mount.
	e.ok(1, unix.SYS_MOUNT, tmpfs, mnt, tmpfs, 0, 0)
	e.ok(1, unix.SYS_MKDIR, m.str("/mnt/d"), 0755)
	e.ok(1, unix.SYS_MOUNT, 0, mnt, 0, unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, 0)
	e.fails(unix.EROFS, 1, unix.SYS_MKDIR, m.str("/mnt/e"), 0755)
	e.fails(unix.EROFS, 1, unix.SYS_OPEN, m.str("/mnt/f"), unix.O_CREAT|unix.O_WRONLY, 0644)
	if mi := e.readFileAt("/proc/self/mountinfo"); !strings.Contains(mi, " /mnt ro,relatime - tmpfs tmpfs rw\n") {
		t.Errorf("mountinfo after remount ro:\n%s", mi)
	}
	e.ok(1, unix.SYS_MOUNT, 0, mnt, 0, unix.MS_REMOUNT, m.str("size=8k"))
	e.ok(1, unix.SYS_MKDIR, m.str("/mnt/e"), 0755)
	e.ok(1, unix.SYS_CHDIR, m.str("/mnt/d"))
	e.fails(unix.EBUSY, 1, unix.SYS_UMOUNT2, mnt, 0)
	e.ok(1, unix.SYS_UMOUNT2, mnt, unix.MNT_DETACH)
	e.ok(1, unix.SYS_MKDIR, m.str("x"), 0755) // the detached mount's cwd still works
	if mi := e.readFileAt("/proc/self/mountinfo"); strings.Contains(mi, "/mnt") {
		t.Errorf("mountinfo after detach:\n%s", mi)
	}

	// A mount with one under it: EBUSY, but MNT_DETACH takes both.
	e.ok(1, unix.SYS_CHDIR, m.str("/"))
	e.ok(1, unix.SYS_MOUNT, tmpfs, mnt, tmpfs, 0, 0)
	e.ok(1, unix.SYS_MKDIR, m.str("/mnt/sub"), 0755)
	e.ok(1, unix.SYS_MOUNT, tmpfs, m.str("/mnt/sub"), tmpfs, 0, 0)
	e.fails(unix.EBUSY, 1, unix.SYS_UMOUNT2, mnt, 0)
	e.ok(1, unix.SYS_UMOUNT2, mnt, unix.MNT_DETACH)
	if mi := e.readFileAt("/proc/self/mountinfo"); strings.Contains(mi, "/mnt") {
		t.Errorf("mountinfo after detaching a mount with a submount:\n%s", mi)
	}

	// Without CAP_SYS_ADMIN: EPERM.
	e.ok(1, unix.SYS_SETUID, 1000)
	e.fails(unix.EPERM, 1, unix.SYS_MOUNT, tmpfs, mnt, tmpfs, 0, 0)
	e.fails(unix.EPERM, 1, unix.SYS_UMOUNT2, mnt, 0)
}

func TestStartMounts(t *testing.T) {
	e := newEnv(t)
	r := e.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte(busybox), []byte("sh")}, Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Mounts: []*sentrypb.MountSpec{
		{Fstype: "bind", Source: "/host/data", Target: "/data", Flags: unix.MS_RDONLY},
		{Fstype: "tmpfs", Source: "shm", Target: "/dev/shm", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "mode=1777,size=65536k"},
		{Fstype: "mqueue", Source: "mqueue", Target: "/dev/mqueue", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	}}}})
	if r.Errno != 0 {
		t.Fatalf("start: %v", unix.Errno(r.Errno))
	}
	mi := e.readFileAt("/proc/self/mountinfo")
	for _, re := range []string{
		`(?m)^5 1 \d+:\d+ /host/data /data ro,relatime - bind /host/data rw$`,
		`(?m)^6 3 0:262 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k$`,
		`(?m)^7 3 0:263 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw$`,
	} {
		if !regexp.MustCompile(re).MatchString(mi) {
			t.Errorf("mountinfo lacks %s:\n%s", re, mi)
		}
	}
	// A mount the gofer made stays.
	os.MkdirAll(filepath.Join(e.root, "data"), 0755)
	e.fails(unix.EBUSY, 1, unix.SYS_UMOUNT2, e.mem.str("/data"), 0)
	// /dev/mqueue is a directory of the sentry's (an mqueue by statfs)
	// showing the client's queues: a queue made there is one.
	m := e.mem
	sf := m.zeros(120)
	e.ok(1, unix.SYS_STATFS, m.str("/dev/mqueue"), sf)
	if typ := binary.LittleEndian.Uint64(m.bytes(sf, 8)); typ != 0x19800202 {
		t.Errorf("statfs /dev/mqueue type %#x, want MQUEUE_MAGIC", typ)
	}
	e.fails(unix.ENOENT, 1, unix.SYS_STAT, m.str("/dev/mqueue/q"), m.zeros(144))
	fd := e.ok(1, unix.SYS_OPEN, m.str("/dev/mqueue/../mqueue/q"), unix.O_CREAT|unix.O_RDWR, 0600)
	e.ok(1, unix.SYS_STAT, m.str("/dev/mqueue/q"), m.zeros(144))
	e.ok(1, unix.SYS_CLOSE, uint64(fd))
	e.ok(1, unix.SYS_UNLINK, m.str("/dev/mqueue/q"))
	e.fails(unix.ENOENT, 1, unix.SYS_STAT, m.str("/dev/mqueue/q"), m.zeros(144))
	if ls := e.readDirNames("/dev"); !strings.Contains(ls, " mqueue ") {
		t.Errorf("/dev lists %q, without mqueue", ls)
	}
	e.ok(1, unix.SYS_UMOUNT2, m.str("/dev/mqueue"), 0)
	e.fails(unix.ENOENT, 1, unix.SYS_STAT, m.str("/dev/mqueue"), m.zeros(144))
	bad := newEnv(t)
	for _, ms := range [][]*sentrypb.MountSpec{
		{{Fstype: "bind", Target: "relative"}},
		{{Fstype: "", Target: "/x"}},
		{{Fstype: "tmpfs", Target: "/x", Data: "bogus"}},
		{{Fstype: "tmpfs", Target: "/x", Flags: unix.MS_BIND}},
	} {
		r := bad.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte(busybox), []byte("sh")}, Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Mounts: ms}}})
		if r.Errno != int32(unix.EINVAL) {
			t.Errorf("start with %v: errno %v, want EINVAL", ms, unix.Errno(r.Errno))
		}
	}
}

// TestMountRecovery: a tmpfs mount, its files and a process's cwd in it
// come back on a fresh server from the client's log.
func TestMountRecovery(t *testing.T) {
	r := newReplayer(t)
	rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte(busybox), []byte("sh")}, Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Umask: 022,
		Mounts: []*sentrypb.MountSpec{{Fstype: "mqueue", Source: "mqueue", Target: "/dev/mqueue"}}}}}, false)
	if rep.Errno != 0 {
		t.Fatalf("Start: %v", unix.Errno(rep.Errno))
	}
	m := r.mem
	os.MkdirAll(filepath.Join(r.root, "mnt"), 0755)
	r.ok(1, unix.SYS_MOUNT, m.str("tmpfs"), m.str("/mnt"), m.str("tmpfs"), unix.MS_NOEXEC, m.str("mode=700"))
	r.ok(1, unix.SYS_MKDIR, m.str("/mnt/d"), 0755)
	written := map[uint64][]byte{}
	fd := r.open("/mnt/d/f", unix.O_CREAT|unix.O_RDWR)
	r.write(1, fd, "kept", written)
	r.ok(1, unix.SYS_FSYNC, fd)
	r.ok(1, unix.SYS_CHDIR, m.str("/mnt/d"))
	os.MkdirAll(filepath.Join(r.root, "bdst"), 0755)
	r.ok(1, unix.SYS_MOUNT, m.str("/mnt/d"), m.str("/bdst"), 0, unix.MS_BIND, 0)

	r.crash()
	r.startServer(true)
	r.recover(written)

	// The cwd is in the mount: a relative name reaches its file, and
	// getcwd prints the path through the mount point.
	buf := m.zeros(256)
	n := r.ok(1, unix.SYS_GETCWD, buf, 256)
	if got := string(m.bytes(buf, int(n)-1)); got != "/mnt/d" {
		t.Errorf("getcwd after recovery = %q", got)
	}
	rfd := r.open("f", unix.O_RDONLY)
	if got := r.readStr(1, rfd, 16); got != "kept" {
		t.Errorf("file in the mount after recovery holds %q", got)
	}
	r.ok(1, unix.SYS_CLOSE, rfd)
	if got := r.readStr(1, fd, 16); got != "" {
		t.Errorf("read at the old offset = %q, want EOF", got)
	}
	mfd := r.open("/proc/self/mountinfo", unix.O_RDONLY)
	mi := r.readStr(1, mfd, 4096)
	r.ok(1, unix.SYS_CLOSE, mfd)
	if !strings.Contains(mi, "6 1 0:262 / /mnt rw,noexec,relatime - tmpfs tmpfs rw,mode=700\n") || !strings.Contains(mi, "5 3 0:261 / /dev/mqueue rw,relatime - mqueue mqueue rw\n") {
		t.Errorf("mountinfo after recovery:\n%s", mi)
	}
	r.ok(1, unix.SYS_STAT, m.str("/dev/mqueue"), m.zeros(144))
	if !strings.Contains(mi, "7 1 0:262 /d /bdst rw,noexec,relatime - tmpfs tmpfs rw,mode=700\n") {
		t.Errorf("bind mount after recovery:\n%s", mi)
	}
	bfd := r.open("/bdst/f", unix.O_RDONLY)
	if got := r.readStr(1, bfd, 16); got != "kept" {
		t.Errorf("file through the bind mount after recovery holds %q", got)
	}
	r.ok(1, unix.SYS_CLOSE, bfd)
	// The tmpfs holds the bind mount's files: it cannot go first.
	if rep := r.sys(1, unix.SYS_UMOUNT2, m.str("/mnt"), unix.MNT_DETACH); rep.Errno != int32(unix.EBUSY) {
		t.Errorf("umount of a bind mount's source tmpfs: errno %v, want EBUSY", unix.Errno(rep.Errno))
	}
	r.ok(1, unix.SYS_UMOUNT2, m.str("/bdst"), 0)
	r.ok(1, unix.SYS_CHDIR, m.str("/"))
	r.ok(1, unix.SYS_CLOSE, fd)
	r.ok(1, unix.SYS_UMOUNT2, m.str("/dev/mqueue"), 0)
	r.ok(1, unix.SYS_UMOUNT2, m.str("/mnt"), 0)
	if dirs := tmpfsDirs(t, r.root); len(dirs) != 0 {
		t.Errorf("tmpfs directories left: %v", dirs)
	}
}

// TestTmpfsKeptUntilGoodbye: a tmpfs mount's gofer directory outlives a
// session whose stream broke (the client may come back to this server or
// another and restore from it), and goes when a client says Goodbye.
func TestTmpfsKeptUntilGoodbye(t *testing.T) {
	for _, tc := range []struct {
		name    string
		end     func(e *env)
		wantDir bool
	}{
		{"stream broke", func(e *env) { e.conn.Close() }, true},
		{"goodbye", func(e *env) {
			if err := e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_Goodbye{Goodbye: &sentrypb.Goodbye{}}}); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			m := e.mem
			if err := os.MkdirAll(filepath.Join(e.root, "mnt"), 0755); err != nil {
				t.Fatal(err)
			}
			e.ok(1, unix.SYS_MOUNT, m.str("scratch"), m.str("/mnt"), m.str("tmpfs"), 0, 0)
			fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/mnt/f"), unix.O_CREAT|unix.O_RDWR, 0644))
			e.ok(1, unix.SYS_WRITE, fd, m.alloc([]byte("data")), 4)
			tc.end(e)
			waitNoClients(t, e.srv)
			dirs := tmpfsDirs(t, e.root)
			if !tc.wantDir {
				if len(dirs) != 0 {
					t.Errorf("tmpfs directories left after Goodbye: %v", dirs)
				}
				return
			}
			if len(dirs) != 1 {
				t.Fatalf("tmpfs directories %v after the stream broke, want the mount's", dirs)
			}
			if b, err := os.ReadFile(filepath.Join(e.root, dirs[0], "f")); err != nil || string(b) != "data" {
				t.Errorf("the mount's file after the stream broke: %q, %v", b, err)
			}
		})
	}
}

// TestMountBusyHighFD: a file open only at an fd above the table's dense
// part (a raised RLIMIT_NOFILE) keeps its mount busy.
func TestMountBusyHighFD(t *testing.T) {
	e := started(t)
	m := e.mem
	if err := os.MkdirAll(filepath.Join(e.root, "mnt"), 0755); err != nil {
		t.Fatal(err)
	}
	lim := make([]byte, 16)
	binary.LittleEndian.PutUint64(lim, 4096)
	binary.LittleEndian.PutUint64(lim[8:], 4096)
	// As the client sends it: the new limit as an input region.
	if r := e.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
		Sysno: unix.SYS_PRLIMIT64, Args: []uint64{0, unix.RLIMIT_NOFILE, 0x1000, 0, 0, 0},
		Inputs: []*sentrypb.Region{{Addr: 0x1000, Data: lim}}}}}); r.Errno != 0 {
		t.Fatalf("prlimit64: %v", unix.Errno(r.Errno))
	}
	e.ok(1, unix.SYS_MOUNT, m.str("scratch"), m.str("/mnt"), m.str("tmpfs"), 0, 0)
	fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/mnt/f"), unix.O_CREAT|unix.O_RDWR, 0644))
	e.ok(1, unix.SYS_DUP2, fd, 3000)
	e.ok(1, unix.SYS_CLOSE, fd)
	e.fails(unix.EBUSY, 1, unix.SYS_UMOUNT2, m.str("/mnt"), 0)
	e.ok(1, unix.SYS_CLOSE, 3000)
	e.ok(1, unix.SYS_UMOUNT2, m.str("/mnt"), 0)
}
