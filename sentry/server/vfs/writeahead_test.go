package vfs

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// TestWriteAheadPlan drives a plan of three parts after a leader's 4
// bytes at offset 10, as GoferFile.Write does: what the leader writes
// ahead, which parts the later calls find written, and that a call that
// is not the next part's (another place, other bytes, another
// description) writes its own and ends the plan.
func TestWriteAheadPlan(t *testing.T) {
	f := fdesc.NewFile(&GoferFile{}, nil, nil, unix.O_RDWR)
	other := fdesc.NewFile(&GoferFile{}, nil, nil, unix.O_RDWR)
	appendF := fdesc.NewFile(&GoferFile{}, nil, nil, unix.O_RDWR|unix.O_APPEND)
	lead := []byte("lead")
	b1, b2, b3 := []byte("one"), []byte("two!"), []byte("three")
	type call struct {
		seq  uint64
		f    *fdesc.File
		b    []byte
		off  int64
		pre  bool // found its bytes written
		last bool // and stats
	}
	for _, tc := range []struct {
		name string
		// parts' offsets (-1: through the description), the leader's
		// description, what the file took of the bytes ahead.
		offs    [3]int64
		leaderF *fdesc.File
		written int
		// wantAhead is the bytes written ahead; calls run after the
		// leader's write.
		wantAhead int
		calls     []call
	}{
		{"all written", [3]int64{-1, -1, -1}, f, 12, 12, []call{
			{2, f, b1, 14, true, false}, {3, f, b2, 17, true, false}, {4, f, b3, 21, true, true}}},
		{"pwrites at their places", [3]int64{14, 17, 21}, f, 12, 12, []call{
			{2, f, b1, 14, true, false}, {3, f, b2, 17, true, false}, {4, f, b3, 21, true, true}}},
		{"a pwrite elsewhere ends the run", [3]int64{14, 100, 104}, f, 3, 3, []call{
			{2, f, b1, 14, true, true}, {3, f, b2, 100, false, false}}},
		{"the file took part of a part", [3]int64{-1, -1, -1}, f, 5, 12, []call{
			{2, f, b1, 14, true, true}, {3, f, b2, 17, false, false}}},
		{"none taken", [3]int64{-1, -1, -1}, f, 0, 12, []call{
			{2, f, b1, 14, false, false}}},
		{"a call elsewhere ends the plan", [3]int64{-1, -1, -1}, f, 12, 12, []call{
			{2, f, b1, 15, false, false}, {3, f, b2, 17, false, false}}},
		{"other bytes", [3]int64{-1, -1, -1}, f, 12, 12, []call{
			{2, f, []byte("one"), 14, false, false}}},
		{"another description", [3]int64{-1, -1, -1}, f, 12, 12, []call{
			{2, other, b1, 14, false, false}}},
		{"an append writes nothing ahead", [3]int64{-1, -1, -1}, appendF, 0, 0, []call{
			{2, appendF, b1, 14, false, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w WriteAhead
			w.Plan(1, append(w.Parts(),
				WriteAheadPart{Seq: 2, Off: tc.offs[0], Data: b1},
				WriteAheadPart{Seq: 3, Off: tc.offs[1], Data: b2},
				WriteAheadPart{Seq: 4, Off: tc.offs[2], Data: b3}))
			if w.Pending(2) {
				t.Fatal("a part pending before the leader wrote")
			}
			ahead := w.aheadOf(1, tc.leaderF, lead, 10)
			n := 0
			for _, d := range ahead {
				n += len(d)
			}
			if n != tc.wantAhead {
				t.Fatalf("the leader writes %d bytes ahead, want %d", n, tc.wantAhead)
			}
			if ahead != nil {
				w.wrote(min(tc.written, n))
			}
			for _, c := range tc.calls {
				pending := w.Pending(c.seq)
				ok, last := w.claim(c.seq, c.f, c.b, c.off)
				if ok != c.pre || last != c.last {
					t.Errorf("call %d: written ahead %v, last %v; want %v, %v", c.seq, ok, last, c.pre, c.last)
				}
				if ok && !pending {
					t.Errorf("call %d found its bytes written but the worker saw no pending part", c.seq)
				}
			}
			if w.next < w.written {
				t.Errorf("parts left unclaimed: %d of %d", w.written-w.next, w.written)
			}
		})
	}
}
