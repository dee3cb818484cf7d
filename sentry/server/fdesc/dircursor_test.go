package fdesc

import (
	"math"
	"testing"
)

// TestDirCursorOffset: a cursor's offset (d_off, lseek's, the replay
// record's) is 0 and 1 before "." and "..", and 2 plus the gofer's
// cookie after (2 before the first entry; a merged overlayfs
// directory's first entry has cookie 1), up to ext4's end of a
// hash-ordered directory, 2^63-1, which stays itself; so any server and
// any gofer take it back to the same host position.
func TestDirCursorOffset(t *testing.T) {
	for _, tc := range []struct {
		cur DirCursor
		off int64
	}{
		{DirCursor{}, 0},
		{DirCursor{Phase: 1}, 1},
		{DirCursor{Phase: 2}, 2},
		{DirCursor{Phase: 2, Cookie: 1}, 3},
		{DirCursor{Phase: 2, Cookie: 1 << 40}, 2 + 1<<40},
		{DirCursor{Phase: 2, Cookie: math.MaxInt64 - 3}, math.MaxInt64 - 1},
		{DirCursor{Phase: 2, Cookie: math.MaxInt64}, math.MaxInt64},
	} {
		if got := tc.cur.Offset(); got != tc.off {
			t.Errorf("%+v.Offset() = %d, want %d", tc.cur, got, tc.off)
		}
		if got := DirCursorAt(tc.off); got != tc.cur {
			t.Errorf("DirCursorAt(%d) = %+v, want %+v", tc.off, got, tc.cur)
		}
	}
	// The two highest positions below ext4's end do not fit: they stand
	// for the end.
	for _, c := range []uint64{math.MaxInt64 - 2, math.MaxInt64 - 1, math.MaxUint64} {
		if got := (DirCursor{Phase: 2, Cookie: c}).Offset(); got != math.MaxInt64 {
			t.Errorf("cookie %#x: offset %#x, want the end's", c, got)
		}
	}
	// EOF is not part of the offset: a restored cursor asks again.
	if got := DirCursorAt((DirCursor{Phase: 2, Cookie: 5, EOF: true}).Offset()); got.EOF || got.Cookie != 5 {
		t.Errorf("round trip of an EOF cursor = %+v, want cookie 5 without EOF", got)
	}
	// A bad record's negative offset is the start, not a panic.
	if got := DirCursorAt(-7); got != (DirCursor{}) {
		t.Errorf("DirCursorAt(-7) = %+v, want the start", got)
	}
}
