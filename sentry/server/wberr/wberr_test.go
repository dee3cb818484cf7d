package wberr

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestTable(t *testing.T) {
	type step struct {
		op   string // keep, take, any, seen
		ino  uint64
		e    unix.Errno
		want unix.Errno
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"reported once", []step{{"keep", 1, unix.ENOSPC, 0}, {"take", 1, 0, unix.ENOSPC}, {"take", 1, 0, 0}}},
		{"first error wins", []step{{"keep", 1, unix.ENOSPC, 0}, {"keep", 1, unix.EIO, 0}, {"take", 1, 0, unix.ENOSPC}}},
		{"per file", []step{{"keep", 1, unix.EIO, 0}, {"take", 2, 0, 0}, {"take", 1, 0, unix.EIO}}},
		{"seen by the description", []step{{"keep", 1, unix.EIO, 0}, {"seen", 1, 0, 0}, {"take", 1, 0, 0}}},
		{"syncfs takes all", []step{{"keep", 1, unix.EIO, 0}, {"keep", 2, unix.EIO, 0}, {"any", 0, 0, unix.EIO}, {"take", 2, 0, 0}, {"any", 0, 0, 0}}},
		{"no error kept", []step{{"keep", 1, 0, 0}, {"take", 1, 0, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tb Table
			for i, s := range tc.steps {
				var got unix.Errno
				switch s.op {
				case "keep":
					tb.Keep(s.ino, s.e)
				case "take":
					got = tb.Take(s.ino)
				case "any":
					got = tb.TakeAny()
				case "seen":
					tb.Seen(s.ino)
				}
				if got != s.want {
					t.Fatalf("step %d %s(%d): got %v, want %v", i, s.op, s.ino, got, s.want)
				}
			}
		})
	}
}
