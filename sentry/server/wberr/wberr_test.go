package wberr

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestTable(t *testing.T) {
	type step struct {
		op   string // keep, take, any, seen
		ino  uint64
		e    unix.Errno
		want unix.Errno
		// changed: keep kept it, seen forgot one, any forgot these
		// files' (in any order: its count).
		changed int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"reported once", []step{{"keep", 1, unix.ENOSPC, 0, 1}, {"take", 1, 0, unix.ENOSPC, 0}, {"take", 1, 0, 0, 0}}},
		{"first error wins", []step{{"keep", 1, unix.ENOSPC, 0, 1}, {"keep", 1, unix.EIO, 0, 0}, {"take", 1, 0, unix.ENOSPC, 0}}},
		{"per file", []step{{"keep", 1, unix.EIO, 0, 1}, {"take", 2, 0, 0, 0}, {"take", 1, 0, unix.EIO, 0}}},
		{"seen by the description", []step{{"keep", 1, unix.EIO, 0, 1}, {"seen", 1, 0, 0, 1}, {"take", 1, 0, 0, 0}, {"seen", 1, 0, 0, 0}}},
		{"syncfs takes all", []step{{"keep", 1, unix.EIO, 0, 1}, {"keep", 2, unix.EIO, 0, 1}, {"any", 0, 0, unix.EIO, 2}, {"take", 2, 0, 0, 0}, {"any", 0, 0, 0, 0}}},
		{"no error kept", []step{{"keep", 1, 0, 0, 0}, {"take", 1, 0, 0, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tb Table
			for i, s := range tc.steps {
				var got unix.Errno
				changed := 0
				count := func(b bool) {
					if b {
						changed = 1
					}
				}
				switch s.op {
				case "keep":
					count(tb.Keep(s.ino, s.e))
				case "take":
					got = tb.Take(s.ino)
				case "any":
					var inos []uint64
					got, inos = tb.TakeAny()
					changed = len(inos)
				case "seen":
					count(tb.Seen(s.ino))
				}
				if got != s.want || changed != s.changed {
					t.Fatalf("step %d %s(%d): got %v (%d changed), want %v (%d)", i, s.op, s.ino, got, changed, s.want, s.changed)
				}
			}
		})
	}
}

// TestRecordsRestore checks the replay records of kept errors: a kept
// error's record restores it on a new table, which reports it once; a
// file without one has its record deleted; bad records restore nothing.
func TestRecordsRestore(t *testing.T) {
	var tb Table
	tb.Keep(7, unix.ENOSPC)
	rec := tb.Record(7)
	if rec.Key != "wberr/7" || rec.Deleted || rec.GetWriteError().GetErrno() != int32(unix.ENOSPC) || rec.GetWriteError().GetIno() != 7 {
		t.Fatalf("record of a kept error: %v", rec)
	}
	if gone := tb.Record(8); !gone.Deleted || gone.Key != "wberr/8" {
		t.Errorf("record of a file without an error: %v", gone)
	}
	var restored Table
	restored.Restore([]*sentrypb.WriteErrorState{rec.GetWriteError(), {Ino: 9, Errno: 0}, {Ino: 10, Errno: -5}, nil})
	for _, ino := range []uint64{9, 10, 11} {
		if e := restored.Take(ino); e != 0 {
			t.Errorf("file %d restored with %v", ino, e)
		}
	}
	if e := restored.Take(7); e != unix.ENOSPC {
		t.Errorf("restored error of file 7: %v, want ENOSPC", e)
	}
	if e := restored.Take(7); e != 0 {
		t.Errorf("restored error reported twice (%v)", e)
	}
	if got := fmt.Sprint(restored.Record(7).Deleted); got != "true" {
		t.Errorf("record after the report: deleted %s", got)
	}
}
