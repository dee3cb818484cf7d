package client

import (
	"testing"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestDirAnswer checks which kept answers hold while posted attribute
// changes of regular files are unanswered: a stat that found a
// directory, and a walk that failed ENOENT.
func TestDirAnswer(t *testing.T) {
	statOf := func(mode uint32) []byte {
		st := linux.Stat{Mode: mode}
		b := make([]byte, st.SizeBytes())
		st.MarshalBytes(b)
		return b
	}
	statxOf := func(mask uint32, mode uint16) []byte {
		stx := linux.Statx{Mask: mask, Mode: mode}
		b := make([]byte, stx.SizeBytes())
		stx.MarshalBytes(b)
		return b
	}
	tests := []struct {
		name  string
		sysno uintptr
		a     pathAnswer
		want  bool
	}{
		{"stat of a directory", unix.SYS_STAT, pathAnswer{out: statOf(linux.S_IFDIR | 0o755)}, true},
		{"newfstatat of a directory", unix.SYS_NEWFSTATAT, pathAnswer{out: statOf(linux.S_IFDIR | 0o700)}, true},
		{"lstat of a regular file", unix.SYS_LSTAT, pathAnswer{out: statOf(linux.S_IFREG | 0o644)}, false},
		{"stat of a regular file", unix.SYS_STAT, pathAnswer{out: statOf(linux.S_IFREG | 0o644)}, false},
		{"lstat of a symlink", unix.SYS_LSTAT, pathAnswer{out: statOf(linux.S_IFLNK | 0o777)}, false},
		{"a short stat", unix.SYS_STAT, pathAnswer{out: statOf(linux.S_IFDIR)[:16]}, false},
		{"statx of a directory", unix.SYS_STATX, pathAnswer{out: statxOf(linux.STATX_BASIC_STATS, linux.S_IFDIR|0o755)}, true},
		{"statx without the type", unix.SYS_STATX, pathAnswer{out: statxOf(linux.STATX_SIZE, linux.S_IFDIR|0o755)}, false},
		{"statx of a regular file", unix.SYS_STATX, pathAnswer{out: statxOf(linux.STATX_BASIC_STATS, linux.S_IFREG|0o644)}, false},
		{"a failed walk, ENOENT", unix.SYS_STAT, pathAnswer{errno: unix.ENOENT}, true},
		{"access, ENOENT", unix.SYS_ACCESS, pathAnswer{errno: unix.ENOENT}, true},
		{"EACCES (a mode may decide it)", unix.SYS_STAT, pathAnswer{errno: unix.EACCES}, false},
		{"access granted", unix.SYS_ACCESS, pathAnswer{}, false},
		{"readlink", unix.SYS_READLINK, pathAnswer{ret: 3, out: []byte("abc")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dirAnswer(tc.sysno, &tc.a); got != tc.want {
				t.Errorf("dirAnswer(%s) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}
