package server

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenWriteReadSeek(t *testing.T) {
	e := started(t)
	m := e.mem
	path := m.str("/tmp/f")
	fd := uint64(e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), path, unix.O_CREAT|unix.O_RDWR|unix.O_EXCL, 0666))
	if fd != 3 {
		t.Errorf("first open got fd %d, want 3", fd)
	}
	data := m.alloc([]byte("hello world"))
	if n := e.ok(1, unix.SYS_WRITE, fd, data, 11); n != 11 {
		t.Fatalf("write %d", n)
	}
	if got, _ := os.ReadFile(filepath.Join(e.root, "tmp/f")); string(got) != "hello world" {
		t.Errorf("file holds %q", got)
	}
	st, _ := os.Stat(filepath.Join(e.root, "tmp/f"))
	if st.Mode().Perm() != 0644 {
		t.Errorf("mode %v, want 0644 (umask 022)", st.Mode().Perm())
	}
	if off := e.ok(1, unix.SYS_LSEEK, fd, 6, unix.SEEK_SET); off != 6 {
		t.Fatalf("lseek %d", off)
	}
	buf := m.zeros(64)
	if n := e.ok(1, unix.SYS_READ, fd, buf, 64); n != 5 || string(m.bytes(buf, 5)) != "world" {
		t.Fatalf("read %d %q", n, m.bytes(buf, 5))
	}
	if n := e.ok(1, unix.SYS_READ, fd, buf, 64); n != 0 {
		t.Fatalf("read at EOF %d", n)
	}
	if off := e.ok(1, unix.SYS_LSEEK, fd, ^uint64(1), unix.SEEK_END); off != 9 {
		t.Fatalf("lseek end-2 = %d", off)
	}
	e.fails(unix.EINVAL, 1, unix.SYS_LSEEK, fd, ^uint64(100), unix.SEEK_CUR)
	e.fails(unix.EINVAL, 1, unix.SYS_LSEEK, fd, 0, 17)
	// pread/pwrite do not move the offset.
	if n := e.ok(1, unix.SYS_PREAD64, fd, buf, 5, 0); n != 5 || string(m.bytes(buf, 5)) != "hello" {
		t.Fatalf("pread %d %q", n, m.bytes(buf, 5))
	}
	e.ok(1, unix.SYS_PWRITE64, fd, m.alloc([]byte("J")), 1, 0)
	if off := e.ok(1, unix.SYS_LSEEK, fd, 0, unix.SEEK_CUR); off != 9 {
		t.Errorf("offset after pread/pwrite %d, want 9", off)
	}
	// fstat and stat agree.
	sb := m.zeros(144)
	e.ok(1, unix.SYS_FSTAT, fd, sb)
	if size := binary.LittleEndian.Uint64(m.bytes(sb+48, 8)); size != 11 {
		t.Errorf("fstat size %d", size)
	}
	if mode := m.u32(sb + 24); mode != unix.S_IFREG|0644 {
		t.Errorf("fstat mode %o", mode)
	}
	sx := m.zeros(256)
	e.ok(1, unix.SYS_STATX, uint64(atFDCWD64), path, 0, 0x7ff, sx)
	if size := binary.LittleEndian.Uint64(m.bytes(sx+40, 8)); size != 11 {
		t.Errorf("statx size %d", size)
	}
	// O_EXCL on an existing file, O_DIRECTORY on a file.
	e.fails(unix.EEXIST, 1, unix.SYS_OPEN, path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0644)
	e.fails(unix.ENOTDIR, 1, unix.SYS_OPEN, path, unix.O_DIRECTORY, 0)
	e.fails(unix.ENOTDIR, 1, unix.SYS_OPEN, m.str("/tmp/f/"), 0, 0)
	e.fails(unix.ENOTDIR, 1, unix.SYS_OPEN, m.str("/tmp/f/x"), 0, 0)
	e.fails(unix.EISDIR, 1, unix.SYS_OPEN, m.str("/tmp"), unix.O_WRONLY, 0)
	e.ok(1, unix.SYS_CLOSE, fd)
	e.fails(unix.EBADF, 1, unix.SYS_CLOSE, fd)
	e.fails(unix.EBADF, 1, unix.SYS_READ, fd, buf, 1)
	// O_TRUNC.
	fd = uint64(e.ok(1, unix.SYS_OPEN, path, unix.O_WRONLY|unix.O_TRUNC, 0))
	e.ok(1, unix.SYS_FSTAT, fd, sb)
	if size := binary.LittleEndian.Uint64(m.bytes(sb+48, 8)); size != 0 {
		t.Errorf("size after O_TRUNC %d", size)
	}
	e.fails(unix.EBADF, 1, unix.SYS_READ, fd, buf, 1)
}

const atFDCWD64 = uint64(0xffffffffffffff9c)

func TestAppendAndDupSharing(t *testing.T) {
	e := started(t)
	m := e.mem
	os.WriteFile(filepath.Join(e.root, "tmp/log"), []byte("0123"), 0644)
	path := m.str("/tmp/log")
	a := uint64(e.ok(1, unix.SYS_OPEN, path, unix.O_WRONLY|unix.O_APPEND, 0))
	b := uint64(e.ok(1, unix.SYS_OPEN, path, unix.O_WRONLY, 0))
	e.ok(1, unix.SYS_WRITE, b, m.alloc([]byte("ab")), 2) // overwrites at 0
	e.ok(1, unix.SYS_WRITE, a, m.alloc([]byte("XY")), 2) // appends
	if got, _ := os.ReadFile(filepath.Join(e.root, "tmp/log")); string(got) != "ab23XY" {
		t.Errorf("file %q, want ab23XY", got)
	}
	flags := e.ok(1, unix.SYS_FCNTL, a, unix.F_GETFL)
	if flags&unix.O_APPEND == 0 || flags&unix.O_ACCMODE != unix.O_WRONLY {
		t.Errorf("F_GETFL %#x", flags)
	}
	e.ok(1, unix.SYS_FCNTL, a, unix.F_SETFL, 0)
	e.ok(1, unix.SYS_WRITE, a, m.alloc([]byte("Z")), 1) // at offset 6 (after the append)
	if got, _ := os.ReadFile(filepath.Join(e.root, "tmp/log")); string(got) != "ab23XYZ" {
		t.Errorf("file %q, want ab23XYZ", got)
	}

	// dup2 shares the offset.
	r := uint64(e.ok(1, unix.SYS_OPEN, path, unix.O_RDONLY, 0))
	e.ok(1, unix.SYS_DUP2, r, 10)
	buf := m.zeros(8)
	e.ok(1, unix.SYS_READ, r, buf, 2)
	if n := e.ok(1, unix.SYS_READ, 10, buf, 2); n != 2 || string(m.bytes(buf, 2)) != "23" {
		t.Errorf("read via dup: %q", m.bytes(buf, 2))
	}
	if off := e.ok(1, unix.SYS_LSEEK, r, 0, unix.SEEK_CUR); off != 4 {
		t.Errorf("shared offset %d, want 4", off)
	}
	d := e.ok(1, unix.SYS_DUP, r)
	if d != 6 {
		t.Errorf("dup got %d, want lowest free 6", d)
	}
	if fd := e.ok(1, unix.SYS_FCNTL, r, unix.F_DUPFD_CLOEXEC, 20); fd != 20 {
		t.Errorf("F_DUPFD_CLOEXEC got %d", fd)
	}
	if v := e.ok(1, unix.SYS_FCNTL, 20, unix.F_GETFD); v != unix.FD_CLOEXEC {
		t.Errorf("F_GETFD %d", v)
	}
	e.fails(unix.EINVAL, 1, unix.SYS_DUP3, r, r, 0)
	e.fails(unix.EBADF, 1, unix.SYS_DUP2, 99, 3)
	e.fails(unix.EBADF, 1, unix.SYS_DUP2, r, 5000)
	if v := e.ok(1, unix.SYS_DUP2, r, r); v != int64(r) {
		t.Errorf("dup2(fd, fd) = %d", v)
	}
}

// getdents lists the directory at fd.
func getdents(e *env, fd uint64) map[string]uint8 {
	m := e.mem
	buf := m.zeros(256)
	out := map[string]uint8{}
	var order []string
	for {
		n := e.ok(1, unix.SYS_GETDENTS64, fd, buf, 256)
		if n == 0 {
			break
		}
		b := m.bytes(buf, int(n))
		for len(b) > 0 {
			reclen := binary.LittleEndian.Uint16(b[16:])
			name := string(b[19:reclen])
			name = name[:strings.IndexByte(name, 0)]
			out[name] = b[18]
			order = append(order, name)
			b = b[reclen:]
		}
	}
	if len(order) < 2 || order[0] != "." || order[1] != ".." {
		e.t.Errorf("getdents order %q: want . and .. first", order)
	}
	return out
}

// dirNames returns the names the directory at path lists but "." and
// "..", sorted.
func dirNames(e *env, path string) []string {
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, e.mem.str(path), unix.O_RDONLY|unix.O_DIRECTORY, 0))
	defer e.ok(1, unix.SYS_CLOSE, fd)
	var names []string
	for n := range getdents(e, fd) {
		if n != "." && n != ".." {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func TestGetdentsAndNames(t *testing.T) {
	e := started(t)
	m := e.mem
	for i := 0; i < 30; i++ {
		os.WriteFile(filepath.Join(e.root, "tmp", strings.Repeat("n", 20)+string(rune('a'+i%26))+string(rune('0'+i/26))), nil, 0644)
	}
	e.ok(1, unix.SYS_MKDIR, m.str("/tmp/d"), 0755)
	e.fails(unix.EEXIST, 1, unix.SYS_MKDIR, m.str("/tmp/d"), 0755)
	e.ok(1, unix.SYS_SYMLINK, m.str("d"), m.str("/tmp/ln"))
	fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
	ents := getdents(e, fd)
	if len(ents) != 34 || ents["d"] != unix.DT_DIR || ents["ln"] != unix.DT_LNK || ents["."] != unix.DT_DIR {
		t.Errorf("getdents: %d entries %v", len(ents), ents)
	}
	// rewind
	e.ok(1, unix.SYS_LSEEK, fd, 0, unix.SEEK_SET)
	if again := getdents(e, fd); len(again) != 34 {
		t.Errorf("after rewind %d entries", len(again))
	}
	e.fails(unix.ENOTDIR, 1, unix.SYS_GETDENTS64, 0, m.zeros(64), 64)
	e.ok(1, unix.SYS_LSEEK, fd, 0, unix.SEEK_SET)
	e.fails(unix.EINVAL, 1, unix.SYS_GETDENTS64, fd, m.zeros(8), 8)

	// Symlinks, chdir, getcwd, "..".
	buf := m.zeros(128)
	if n := e.ok(1, unix.SYS_READLINK, m.str("/tmp/ln"), buf, 128); string(m.bytes(buf, int(n))) != "d" {
		t.Errorf("readlink %q", m.bytes(buf, int(n)))
	}
	e.fails(unix.EINVAL, 1, unix.SYS_READLINK, m.str("/tmp/d"), buf, 128)
	e.ok(1, unix.SYS_CHDIR, m.str("/tmp/ln/"))
	if n := e.ok(1, unix.SYS_GETCWD, buf, 128); string(m.bytes(buf, int(n))) != "/tmp/d\x00" {
		t.Errorf("getcwd %q", m.bytes(buf, int(n)))
	}
	e.fails(unix.ERANGE, 1, unix.SYS_GETCWD, buf, 3)
	e.ok(1, unix.SYS_CHDIR, m.str("../../../../.."))
	if n := e.ok(1, unix.SYS_GETCWD, buf, 128); string(m.bytes(buf, int(n))) != "/\x00" {
		t.Errorf("getcwd after .. past root: %q", m.bytes(buf, int(n)))
	}
	e.ok(1, unix.SYS_CHDIR, m.str("tmp"))
	// Relative create through a symlinked dir.
	f := uint64(e.ok(1, unix.SYS_OPEN, m.str("ln/new"), unix.O_CREAT|unix.O_WRONLY, 0600))
	e.ok(1, unix.SYS_CLOSE, f)
	if _, err := os.Stat(filepath.Join(e.root, "tmp/d/new")); err != nil {
		t.Errorf("create through symlink: %v", err)
	}
	e.fails(unix.ELOOP, 1, unix.SYS_OPEN, m.str("ln"), unix.O_NOFOLLOW|unix.O_RDONLY, 0)
	e.ok(1, unix.SYS_SYMLINK, m.str("loop"), m.str("/tmp/loop"))
	e.fails(unix.ELOOP, 1, unix.SYS_OPEN, m.str("/tmp/loop"), 0, 0)
	// lstat vs stat.
	sb := m.zeros(144)
	e.ok(1, unix.SYS_LSTAT, m.str("/tmp/ln"), sb)
	if mode := m.u32(sb + 24); mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("lstat mode %o", mode)
	}
	e.ok(1, unix.SYS_NEWFSTATAT, uint64(atFDCWD64), m.str("ln"), sb, 0)
	if mode := m.u32(sb + 24); mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("stat mode %o", mode)
	}
	// AT_EMPTY_PATH and dirfd-relative lookups.
	dfd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/d"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
	e.ok(1, unix.SYS_NEWFSTATAT, dfd, m.str(""), sb, unix.AT_EMPTY_PATH)
	e.fails(unix.ENOENT, 1, unix.SYS_NEWFSTATAT, dfd, m.str(""), sb, 0)
	e.ok(1, unix.SYS_NEWFSTATAT, dfd, m.str("new"), sb, 0)
	e.fails(unix.ENOTDIR, 1, unix.SYS_NEWFSTATAT, 0, m.str("new"), sb, 0)

	// rename and unlink.
	e.ok(1, unix.SYS_RENAMEAT, dfd, m.str("new"), uint64(atFDCWD64), m.str("/tmp/moved"))
	e.fails(unix.ENOENT, 1, unix.SYS_STAT, m.str("/tmp/d/new"), sb)
	e.ok(1, unix.SYS_STAT, m.str("/tmp/moved"), sb)
	e.ok(1, unix.SYS_RENAME, m.str("/tmp/d"), m.str("/tmp/d2"))
	if n := e.ok(1, unix.SYS_GETCWD, buf, 128); string(m.bytes(buf, int(n))) != "/tmp\x00" {
		t.Errorf("getcwd %q", m.bytes(buf, int(n)))
	}
	e.fails(unix.EISDIR, 1, unix.SYS_UNLINK, m.str("/tmp/d2"))
	e.ok(1, unix.SYS_UNLINK, m.str("/tmp/moved"))
	e.fails(unix.ENOENT, 1, unix.SYS_UNLINK, m.str("/tmp/moved"))
	e.fails(unix.ENOTDIR, 1, unix.SYS_RMDIR, m.str("/tmp/ln"))
	e.ok(1, unix.SYS_RMDIR, m.str("/tmp/d2"))
	if _, err := os.Stat(filepath.Join(e.root, "tmp/d2")); !os.IsNotExist(err) {
		t.Errorf("rmdir left %v", err)
	}
	e.fails(unix.EINVAL, 1, unix.SYS_RMDIR, m.str("/tmp/."))
	// hard link
	os.WriteFile(filepath.Join(e.root, "tmp/h1"), []byte("x"), 0644)
	e.ok(1, unix.SYS_LINK, m.str("/tmp/h1"), m.str("/tmp/h2"))
	e.ok(1, unix.SYS_STAT, m.str("/tmp/h2"), sb)
	if nlink := binary.LittleEndian.Uint64(m.bytes(sb+16, 8)); nlink != 2 {
		t.Errorf("nlink %d", nlink)
	}
	// access, chmod, truncate, utimensat.
	e.ok(1, unix.SYS_ACCESS, m.str("/tmp/h1"), unix.R_OK|unix.W_OK)
	e.fails(unix.EACCES, 1, unix.SYS_ACCESS, m.str("/tmp/h1"), unix.X_OK)
	e.ok(1, unix.SYS_CHMOD, m.str("/tmp/h1"), 0755)
	e.ok(1, unix.SYS_ACCESS, m.str("/tmp/h1"), unix.X_OK)
	e.ok(1, unix.SYS_TRUNCATE, m.str("/tmp/h1"), 100)
	if st, _ := os.Stat(filepath.Join(e.root, "tmp/h1")); st.Size() != 100 || st.Mode().Perm() != 0755 {
		t.Errorf("after chmod/truncate: %v %v", st.Size(), st.Mode())
	}
	ts := m.alloc(make([]byte, 32)) // both times = epoch
	e.ok(1, unix.SYS_UTIMENSAT, uint64(atFDCWD64), m.str("/tmp/h1"), ts, 0)
	if st, _ := os.Stat(filepath.Join(e.root, "tmp/h1")); st.ModTime().Unix() != 0 {
		t.Errorf("mtime %v", st.ModTime())
	}
	e.ok(1, unix.SYS_STATFS, m.str("/tmp"), m.zeros(120))
}

func TestDevAndProc(t *testing.T) {
	e := started(t)
	m := e.mem
	buf := m.zeros(64)
	null := uint64(e.ok(1, unix.SYS_OPEN, m.str("/dev/null"), unix.O_RDWR, 0))
	if n := e.ok(1, unix.SYS_WRITE, null, buf, 10); n != 10 {
		t.Errorf("write /dev/null %d", n)
	}
	if n := e.ok(1, unix.SYS_READ, null, buf, 10); n != 0 {
		t.Errorf("read /dev/null %d", n)
	}
	zero := uint64(e.ok(1, unix.SYS_OPEN, m.str("/dev/zero"), unix.O_RDONLY, 0))
	if n := e.ok(1, unix.SYS_READ, zero, buf, 10); n != 10 {
		t.Errorf("read /dev/zero %d", n)
	}
	full := uint64(e.ok(1, unix.SYS_OPEN, m.str("/dev/full"), unix.O_WRONLY, 0))
	e.fails(unix.ENOSPC, 1, unix.SYS_WRITE, full, buf, 1)
	e.fails(unix.ENXIO, 1, unix.SYS_OPEN, m.str("/dev/tty"), unix.O_RDWR, 0)
	if n := e.ok(1, unix.SYS_READLINK, m.str("/proc/self"), buf, 64); string(m.bytes(buf, int(n))) != "1" {
		t.Errorf("/proc/self -> %q", m.bytes(buf, int(n)))
	}
	if n := e.ok(1, unix.SYS_READLINK, m.str("/proc/self/cwd"), buf, 64); string(m.bytes(buf, int(n))) != "/" {
		t.Errorf("/proc/self/cwd -> %q", m.bytes(buf, int(n)))
	}
	if n := e.ok(1, unix.SYS_READLINK, m.str("/proc/self/fd/3"), buf, 64); string(m.bytes(buf, int(n))) != "/dev/null" {
		t.Errorf("/proc/self/fd/3 -> %q", m.bytes(buf, int(n)))
	}
	pfd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/proc/self/fd"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
	ents := getdents(e, pfd)
	var names []string
	for n := range ents {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != ".,..,0,1,2,3,4,5,6" {
		t.Errorf("/proc/self/fd lists %v", names)
	}
	// /dev/stdout reopens the client's stdout.
	out := uint64(e.ok(1, unix.SYS_OPEN, m.str("/dev/stdout"), unix.O_WRONLY, 0))
	e.ok(1, unix.SYS_WRITE, out, m.alloc([]byte("via /dev/stdout")), 15)
	cl := uint64(e.ok(1, unix.SYS_OPEN, m.str("/proc/self/cmdline"), unix.O_RDONLY, 0))
	if n := e.ok(1, unix.SYS_READ, cl, buf, 64); string(m.bytes(buf, int(n))) != busybox+"\x00sh\x00" {
		t.Errorf("cmdline %q", m.bytes(buf, int(n)))
	}
	e.fails(unix.ENOENT, 1, unix.SYS_OPEN, m.str("/proc/999/cmdline"), 0, 0)
}

// direntRecord is one struct linux_dirent64 of a getdents64 reply.
type direntRecord struct {
	name string
	off  uint64
}

// getdentsRecords lists the directory at fd from its offset, with each
// record's d_off.
func getdentsRecords(e *env, fd uint64) []direntRecord {
	m := e.mem
	buf := m.zeros(512)
	var out []direntRecord
	for {
		n := e.ok(1, unix.SYS_GETDENTS64, fd, buf, 512)
		if n == 0 {
			return out
		}
		out = append(out, direntRecords(m.bytes(buf, int(n)))...)
	}
}

// direntRecords parses the records of one getdents64 reply, b.
func direntRecords(b []byte) []direntRecord {
	var out []direntRecord
	for len(b) > 0 {
		reclen := binary.LittleEndian.Uint16(b[16:])
		name := string(b[19:reclen])
		out = append(out, direntRecord{name: name[:strings.IndexByte(name, 0)], off: binary.LittleEndian.Uint64(b[8:])})
		b = b[reclen:]
	}
	return out
}

// TestGetdentsSeekToOffset: lseek of a directory to a record's d_off
// (telldir then seekdir) continues the listing with the next record, for
// ".", "..", the first entries (whose gofer cookies are small, as "."'s
// and ".."'s offsets are) and a later one, in a gofer and a synthesized
// directory.
func TestGetdentsSeekToOffset(t *testing.T) {
	e := started(t)
	m := e.mem
	for i := range 6 {
		os.WriteFile(filepath.Join(e.root, "tmp", fmt.Sprint("seek", i)), nil, 0o644)
	}
	for _, dir := range []string{"/tmp", "/proc/self"} {
		fd := uint64(e.ok(1, unix.SYS_OPEN, m.str(dir), unix.O_RDONLY|unix.O_DIRECTORY, 0))
		all := getdentsRecords(e, fd)
		if len(all) < 6 {
			t.Fatalf("%s: %d records", dir, len(all))
		}
		for _, k := range []int{0, 1, 2, 3, 4, len(all) - 2} {
			e.ok(1, unix.SYS_LSEEK, fd, all[k].off, unix.SEEK_SET)
			rest := getdentsRecords(e, fd)
			if len(rest) != len(all)-k-1 || len(rest) == 0 || rest[0] != all[k+1] {
				t.Errorf("%s: after seeking to record %d's offset %d (%q): %v; want %v",
					dir, k, all[k].off, all[k].name, rest, all[k+1:])
			}
		}
		e.ok(1, unix.SYS_CLOSE, fd)
	}
}

// TestGetFLAsLinux opens files and a directory with mixes of flags
// through the server and on the host (the gofer's root is a host
// directory) and compares what F_GETFL answers: Linux keeps every open
// flag but O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC and O_CLOEXEC, and adds
// O_LARGEFILE (GNU find's fts reads it of each directory it opens).
func TestGetFLAsLinux(t *testing.T) {
	e := started(t)
	m := e.mem
	dir := filepath.Join(e.root, "tmp/gfl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		path  string // under tmp/gfl; "%s" is "host" or "sandbox" (a name each side creates)
		flags int
	}{
		{"fts directory", ".", unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC},
		{"append", "f", unix.O_WRONLY | unix.O_APPEND | unix.O_NOCTTY},
		{"sync truncate", "f", unix.O_RDWR | unix.O_SYNC | unix.O_TRUNC},
		{"exclusive creation", "new-%s", unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_DSYNC},
		{"noatime", "f", unix.O_RDONLY | unix.O_NOATIME},
		{"path of a symlink", "l", unix.O_PATH | unix.O_NOFOLLOW},
		{"path with status flags", "f", unix.O_PATH | unix.O_APPEND | unix.O_NONBLOCK | unix.O_CLOEXEC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostPath := filepath.Join(dir, strings.ReplaceAll(tc.path, "%s", "host"))
			hfd, err := unix.Open(hostPath, tc.flags, 0o644)
			if err != nil {
				t.Fatalf("host open %s: %v", hostPath, err)
			}
			defer unix.Close(hfd)
			want, err := unix.FcntlInt(uintptr(hfd), unix.F_GETFL, 0)
			if err != nil {
				t.Fatal(err)
			}
			fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/gfl/"+strings.ReplaceAll(tc.path, "%s", "sandbox")), uint64(tc.flags), 0o644))
			defer e.ok(1, unix.SYS_CLOSE, fd)
			if got := e.ok(1, unix.SYS_FCNTL, fd, unix.F_GETFL); got != int64(want) {
				t.Errorf("F_GETFL after open(%#x): %#x, Linux says %#x", tc.flags, got, want)
			}
		})
	}
}
