package server

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/gofer"
)

// TestPermissionChecksAsUser runs calls as a non-root process against
// root's files through a real gofer (one that keeps set-id bits, so that
// the server's own clearing of them shows).
func TestPermissionChecksAsUser(t *testing.T) {
	e := newEnvGofer(t, []gofer.Option{gofer.WithAllowSetuid(true)})
	if r := e.start(busybox, "sh"); r.Errno != 0 {
		t.Fatalf("Start: errno %v", unix.Errno(r.Errno))
	}
	m := e.mem
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(e.root, "tmp/secret")
	must(os.WriteFile(secret, []byte("root only"), 0600))
	must(os.Mkdir(filepath.Join(e.root, "tmp/closed"), 0700))
	must(os.WriteFile(filepath.Join(e.root, "tmp/closed/f"), nil, 0644))
	must(os.Mkdir(filepath.Join(e.root, "tmp/sticky"), 0))
	must(os.Chmod(filepath.Join(e.root, "tmp/sticky"), 01777|os.ModeSticky))
	must(os.WriteFile(filepath.Join(e.root, "tmp/sticky/roots"), nil, 0644))
	must(os.Mkdir(filepath.Join(e.root, "tmp/sgid"), 0))
	must(os.Chown(filepath.Join(e.root, "tmp/sgid"), 0, 4000))
	must(os.Chmod(filepath.Join(e.root, "tmp/sgid"), 0777|os.ModeSetgid))

	// Become uid/gid 1000 (setresgid first, while still root).
	e.ok(1, unix.SYS_SETRESGID, 1000, 1000, 1000)
	e.ok(1, unix.SYS_SETRESUID, 1000, 1000, 1000)

	p := m.str("/tmp/secret")
	e.fails(unix.EACCES, 1, unix.SYS_OPENAT, uint64(atFDCWD64), p, unix.O_RDONLY, 0)
	e.fails(unix.EACCES, 1, unix.SYS_OPENAT, uint64(atFDCWD64), p, unix.O_WRONLY|unix.O_TRUNC, 0)
	e.fails(unix.EACCES, 1, unix.SYS_TRUNCATE, p, 0)
	e.fails(unix.EPERM, 1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/sticky"), unix.O_RDONLY|unix.O_NOATIME, 0)
	e.fails(unix.EACCES, 1, unix.SYS_ACCESS, p, unix.R_OK)
	e.fails(unix.EPERM, 1, unix.SYS_CHMOD, p, 0777)
	e.fails(unix.EPERM, 1, unix.SYS_CHOWN, p, 1000, 1000)
	e.fails(unix.EPERM, 1, unix.SYS_UTIMENSAT, uint64(atFDCWD64), p, m.alloc(make([]byte, 32)), 0)
	e.fails(unix.EACCES, 1, unix.SYS_UTIMENSAT, uint64(atFDCWD64), p, 0, 0)
	e.fails(unix.EACCES, 1, unix.SYS_UNLINK, p)
	e.fails(unix.EACCES, 1, unix.SYS_STAT, m.str("/tmp/closed/f"), m.zeros(144))
	e.fails(unix.EPERM, 1, unix.SYS_UNLINK, m.str("/tmp/sticky/roots"))
	e.fails(unix.EPERM, 1, unix.SYS_RENAME, m.str("/tmp/sticky/roots"), m.str("/tmp/sticky/mine"))
	if got, _ := os.ReadFile(secret); string(got) != "root only" {
		t.Errorf("secret now holds %q", got)
	}

	// A file of one's own in the sticky directory can go; a new file
	// in the setgid directory takes its group, a new directory also
	// its setgid bit.
	fd := e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/sticky/mine"), unix.O_CREAT|unix.O_WRONLY, 0644)
	e.ok(1, unix.SYS_CLOSE, uint64(fd))
	e.ok(1, unix.SYS_UNLINK, m.str("/tmp/sticky/mine"))
	fd = e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/sgid/f"), unix.O_CREAT|unix.O_WRONLY, 0644)
	e.ok(1, unix.SYS_CLOSE, uint64(fd))
	e.ok(1, unix.SYS_MKDIR, m.str("/tmp/sgid/d"), 0755)
	for _, c := range []struct {
		name string
		mode os.FileMode
	}{{"f", 0644}, {"d", os.ModeDir | os.ModeSetgid | 0755}} {
		fi, err := os.Stat(filepath.Join(e.root, "tmp/sgid", c.name))
		must(err)
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 1000 || st.Gid != 4000 || fi.Mode() != c.mode {
			t.Errorf("%s: owner %d:%d mode %v, want 1000:4000 %v", c.name, st.Uid, st.Gid, fi.Mode(), c.mode)
		}
	}
	// /proc/self/fd (0500) is the process's own.
	e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/proc/self/fd"), unix.O_RDONLY|unix.O_DIRECTORY, 0)))
	e.ok(1, unix.SYS_ACCESS, m.str("/proc/self/fd"), unix.R_OK|unix.X_OK)
	// Writing one's own setuid file clears the bit.
	fd = e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/sgid/f"), unix.O_WRONLY, 0)
	e.ok(1, unix.SYS_FCHMOD, uint64(fd), 04755)
	if fi, err := os.Stat(filepath.Join(e.root, "tmp/sgid/f")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("setuid bit after fchmod 04755: %v %v", fi.Mode(), err)
	}
	e.ok(1, unix.SYS_WRITE, uint64(fd), m.alloc([]byte("x")), 1)
	if fi, err := os.Stat(filepath.Join(e.root, "tmp/sgid/f")); err != nil || fi.Mode()&os.ModeSetuid != 0 {
		t.Errorf("setuid bit after a write by the owner: %v %v", fi.Mode(), err)
	}
}

func TestMknodXattrUtime(t *testing.T) {
	e := started(t)
	m := e.mem
	// Root too is refused device nodes; FIFOs and regular files are made.
	e.fails(unix.EPERM, 1, unix.SYS_MKNOD, m.str("/tmp/null"), unix.S_IFCHR|0666, 1<<8|3)
	e.fails(unix.EPERM, 1, unix.SYS_MKNOD, m.str("/tmp/dir"), unix.S_IFDIR|0755, 0)
	e.fails(unix.EINVAL, 1, unix.SYS_MKNOD, m.str("/tmp/bad"), 0170000|0644, 0)
	e.ok(1, unix.SYS_MKNOD, m.str("/tmp/fifo"), unix.S_IFIFO|0666, 0)
	e.ok(1, unix.SYS_MKNODAT, uint64(atFDCWD64), m.str("/tmp/reg"), 0640, 0)
	e.fails(unix.EEXIST, 1, unix.SYS_MKNOD, m.str("/tmp/reg"), 0640, 0)
	for name, want := range map[string]os.FileMode{"fifo": os.ModeNamedPipe | 0644, "reg": 0640} {
		fi, err := os.Lstat(filepath.Join(e.root, "tmp", name))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want mode %v (umask 022)", name, fi.Mode(), err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(e.root, "tmp/null")); err == nil {
		t.Errorf("a device node was made")
	}

	buf := m.zeros(64)
	e.fails(unix.ENODATA, 1, unix.SYS_GETXATTR, m.str("/tmp/reg"), m.str("user.x"), buf, 64)
	e.fails(unix.ENOENT, 1, unix.SYS_GETXATTR, m.str("/tmp/none"), m.str("user.x"), buf, 64)
	e.fails(unix.ERANGE, 1, unix.SYS_GETXATTR, m.str("/tmp/reg"), m.str(""), buf, 64)
	e.fails(unix.EPERM, 1, unix.SYS_SETXATTR, m.str("/tmp/fifo"), m.str("user.x"), buf, 1, 0)
	e.fails(unix.EINVAL, 1, unix.SYS_SETXATTR, m.str("/tmp/reg"), m.str("user.x"), buf, 1, 4)
	e.fails(unix.E2BIG, 1, unix.SYS_SETXATTR, m.str("/tmp/reg"), m.str("user.x"), buf, 1<<20, 0)
	e.ok(1, unix.SYS_SETXATTR, m.str("/tmp/reg"), m.str("user.x"), buf, 1, 0)
	if n := e.ok(1, unix.SYS_LISTXATTR, m.str("/tmp/reg"), buf, 64); n != int64(len("user.x\x00")) {
		t.Errorf("listxattr = %d, want %d", n, len("user.x\x00"))
	}
	e.fails(unix.EBADF, 1, unix.SYS_FLISTXATTR, 77, buf, 64)

	// utimes with a timeval, utime with seconds.
	tv := make([]byte, 32)
	binary.LittleEndian.PutUint64(tv[0:], 100)
	binary.LittleEndian.PutUint64(tv[8:], 5)
	binary.LittleEndian.PutUint64(tv[16:], 200)
	binary.LittleEndian.PutUint64(tv[24:], 7)
	e.ok(1, unix.SYS_UTIMES, m.str("/tmp/reg"), m.alloc(tv))
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(e.root, "tmp/reg"), &st); err != nil || st.Atim.Sec != 100 || st.Atim.Nsec != 5000 || st.Mtim.Sec != 200 || st.Mtim.Nsec != 7000 {
		t.Errorf("after utimes: atime %v mtime %v %v", st.Atim, st.Mtim, err)
	}
	binary.LittleEndian.PutUint64(tv[8:], 1e6)
	e.fails(unix.EINVAL, 1, unix.SYS_UTIMES, m.str("/tmp/reg"), m.alloc(tv))
	ub := make([]byte, 16)
	binary.LittleEndian.PutUint64(ub[0:], 300)
	binary.LittleEndian.PutUint64(ub[8:], 400)
	e.ok(1, unix.SYS_UTIME, m.str("/tmp/reg"), m.alloc(ub))
	if err := unix.Stat(filepath.Join(e.root, "tmp/reg"), &st); err != nil || st.Atim.Sec != 300 || st.Mtim.Sec != 400 {
		t.Errorf("after utime: atime %v mtime %v %v", st.Atim, st.Mtim, err)
	}
}
