package pipe

import (
	"bytes"
	"testing"
)

// TestPostedRoomAndPush checks the room a pipe grants for posted writes
// (its free space while it has a reader and one write description) and
// that a posted write appends whole past the pipe's size, up to
// MaxPostedOverflow, as the record says whether a reader is left.
func TestPostedRoomAndPush(t *testing.T) {
	const capacity = 8192
	for _, tc := range []struct {
		name string
		// held are bytes in the pipe before; readers and writers the
		// end counts then (from one of each).
		held             int
		readers, writers int
		write            int
		wantRoom         int
		wantOK           bool
		wantLen          int
	}{
		{"empty", 0, 1, 1, 1000, capacity, true, 1000},
		{"half full", 4096, 1, 1, 4096, capacity - 4096, true, 8192},
		{"full: overflow allowed", capacity, 1, 1, 4096, 0, true, capacity + 4096},
		{"overflow bound", capacity, 1, 1, MaxPostedOverflow, 0, true, capacity + MaxPostedOverflow},
		{"past the bound", capacity, 1, 1, MaxPostedOverflow + 1, 0, false, capacity},
		{"no reader: no room", 0, 0, 1, 0, 0, true, 0},
		{"two writers: no room", 0, 1, 2, 0, 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := newTestPipe(t, capacity)
			p.Lock()
			defer p.Unlock()
			p.readers, p.writers = tc.readers, tc.writers
			if tc.held > 0 {
				if n, _ := p.PushLocked(make([]byte, tc.held), false); n != tc.held {
					t.Fatalf("PushLocked(%d) = %d", tc.held, n)
				}
			}
			if got := p.PostedRoomLocked(); got != tc.wantRoom {
				t.Errorf("PostedRoomLocked() = %d, want %d", got, tc.wantRoom)
			}
			if tc.write > 0 {
				b := bytes.Repeat([]byte{'x'}, tc.write)
				pos, ok := p.PushPostedLocked(b)
				if ok != tc.wantOK || (ok && pos != uint64(tc.held)) {
					t.Errorf("PushPostedLocked(%d) = %d, %v; want %d, %v", tc.write, pos, ok, tc.held, tc.wantOK)
				}
			}
			if got := p.LenLocked(); got != tc.wantLen {
				t.Errorf("held %d bytes, want %d", got, tc.wantLen)
			}
			if st, _ := p.StateLocked(1); st.NoReader != (tc.readers == 0) {
				t.Errorf("record's no_reader %v with %d readers", st.NoReader, tc.readers)
			}
		})
	}
}

// TestOverflowedPipeBlocksWaitedWrites checks that a pipe a posted write
// filled past its size takes no waited write (it has no space) and polls
// unwritable until reads bring it below its size again.
func TestOverflowedPipeBlocksWaitedWrites(t *testing.T) {
	p, _, _ := newTestPipe(t, 4096)
	p.Lock()
	defer p.Unlock()
	if _, ok := p.PushPostedLocked(make([]byte, 6000)); !ok {
		t.Fatal("PushPostedLocked(6000) refused")
	}
	if n, _ := p.PushLocked([]byte("x"), true); n != 0 {
		t.Errorf("a waited write took %d bytes of an overflowed pipe", n)
	}
	if p.WritableLocked() || p.PostedRoomLocked() != 0 {
		t.Errorf("overflowed pipe writable %v, room %d", p.WritableLocked(), p.PostedRoomLocked())
	}
	if n := p.ConsumeLocked(6000); n != 6000 {
		t.Fatalf("ConsumeLocked = %d", n)
	}
	if !p.WritableLocked() || p.PostedRoomLocked() != 4096 {
		t.Errorf("drained pipe writable %v, room %d", p.WritableLocked(), p.PostedRoomLocked())
	}
}
