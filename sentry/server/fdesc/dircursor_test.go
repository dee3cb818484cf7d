package fdesc

import (
	"math"
	"testing"
)

// TestDirCursorOffset: a cursor's offset (d_off, lseek's, the replay
// record's) is 0, 1 and 2 before ".", ".." and the first entry, and
// after an entry the gofer's cookie itself (the host's position, up to
// 2^63-1: ext4's end of a hash-ordered directory), so any server and any
// gofer take it back to the same position.
func TestDirCursorOffset(t *testing.T) {
	for _, tc := range []struct {
		cur DirCursor
		off int64
	}{
		{DirCursor{}, 0},
		{DirCursor{Phase: 1}, 1},
		{DirCursor{Phase: 2}, 2},
		{DirCursor{Phase: 2, Cookie: 3}, 3},
		{DirCursor{Phase: 2, Cookie: 1 << 40}, 1 << 40},
		{DirCursor{Phase: 2, Cookie: math.MaxInt64}, math.MaxInt64},
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

// TestSynthCursor: in a synthesized directory, the cursor after entry i
// (its d_off) lists entry i+1 next, also when taken back from its offset.
func TestSynthCursor(t *testing.T) {
	if got := (DirCursor{Phase: 2}).SynthIndex(); got != 0 {
		t.Errorf("first entry: index %d, want 0", got)
	}
	for _, i := range []int{0, 1, 7, 1000} {
		cur := DirCursorAt(int64(SynthCookie(i)))
		if got := cur.SynthIndex(); got != i+1 {
			t.Errorf("after entry %d (offset %d): next index %d, want %d", i, SynthCookie(i), got, i+1)
		}
	}
	if got := DirCursorAt(math.MaxInt64).SynthIndex(); got <= 0 {
		t.Errorf("an lseek far past the end: index %d, want past every entry", got)
	}
}
