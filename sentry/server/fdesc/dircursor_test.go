package fdesc

import "testing"

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
	} {
		if got := tc.cur.Offset(); got != tc.off {
			t.Errorf("%+v.Offset() = %d, want %d", tc.cur, got, tc.off)
		}
		if got := DirCursorAt(tc.off); got != tc.cur {
			t.Errorf("DirCursorAt(%d) = %+v, want %+v", tc.off, got, tc.cur)
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
