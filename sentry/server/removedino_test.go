package server

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRmdirReplyNamesRemovedDir: the reply of a waited rmdir (by path or
// relative to a directory's fd) that removed a directory carries its
// inode (Reply.removed_ino), for a client that could not tell which
// directory the call named; a failed one, an unlink, and a posted rmdir
// (its client modeled it) carry none.
func TestRmdirReplyNamesRemovedDir(t *testing.T) {
	e := started(t)
	m := e.mem
	for _, d := range []string{"tmp/r/a", "tmp/r/b", "tmp/r/c", "tmp/r/full/x"} {
		if err := os.MkdirAll(filepath.Join(e.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(e.root, "tmp/r/f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ino := func(rel string) uint64 {
		fi, err := os.Stat(filepath.Join(e.root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	a, b, c := ino("tmp/r/a"), ino("tmp/r/b"), ino("tmp/r/c")
	dfd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/r"), unix.O_RDONLY|unix.O_DIRECTORY, 0))
	tests := []struct {
		name  string
		reply func() (errno int32, removed uint64)
		want  uint64
	}{
		{"rmdir by path", func() (int32, uint64) {
			r := e.sys(1, unix.SYS_RMDIR, m.str("/tmp/r/a"))
			return r.Errno, r.RemovedIno
		}, a},
		{"unlinkat AT_REMOVEDIR relative to a dirfd", func() (int32, uint64) {
			r := e.sys(1, unix.SYS_UNLINKAT, dfd, m.str("b"), unix.AT_REMOVEDIR)
			return r.Errno, r.RemovedIno
		}, b},
		{"not empty", func() (int32, uint64) {
			r := e.sys(1, unix.SYS_UNLINKAT, dfd, m.str("full"), unix.AT_REMOVEDIR)
			if unix.Errno(r.Errno) != unix.ENOTEMPTY {
				t.Errorf("rmdir of a full directory: errno %v, want ENOTEMPTY", unix.Errno(r.Errno))
			}
			return 0, r.RemovedIno
		}, 0},
		{"unlink of a file", func() (int32, uint64) {
			r := e.sys(1, unix.SYS_UNLINKAT, dfd, m.str("f"), 0)
			return r.Errno, r.RemovedIno
		}, 0},
		{"posted rmdir", func() (int32, uint64) {
			r := e.posted(1, unix.SYS_UNLINKAT, dfd, m.str("c"), unix.AT_REMOVEDIR)
			return r.Errno, r.RemovedIno
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errno, got := tc.reply()
			if errno != 0 {
				t.Fatalf("errno %v", unix.Errno(errno))
			}
			if got != tc.want {
				t.Errorf("removed_ino %d, want %d", got, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(e.root, "tmp/r/c")); !os.IsNotExist(err) || c == 0 {
		t.Errorf("the posted rmdir left tmp/r/c: %v", err)
	}
}
