package replaylog

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestWriteBufferSizes(t *testing.T) {
	for _, tc := range []struct {
		n      int
		pooled bool
		cap    int
	}{
		{1, false, 1},
		{2048, false, 2048},
		{2049, true, 4096},
		{4096, true, 4096},
		{4097, true, 8192},
		{8192, true, 8192},
		{40000, true, 64 << 10},
		{64 << 10, true, 64 << 10},
		{64<<10 + 1, true, 128 << 10},
		{256 << 10, true, 256 << 10},
		{256<<10 + 1, false, 256<<10 + 1},
	} {
		l := New()
		b, pooled := l.WriteBuffer(tc.n)
		if len(b) != tc.n || cap(b) != tc.cap || pooled != tc.pooled {
			t.Errorf("WriteBuffer(%d) = len %d cap %d pooled %v, want len %d cap %d pooled %v",
				tc.n, len(b), cap(b), pooled, tc.n, tc.cap, tc.pooled)
		}
	}
	if b, pooled := NewDisabled().WriteBuffer(4096); pooled || len(b) != 4096 {
		t.Errorf("a disabled log's WriteBuffer(4096) pooled %v len %d, want a plain buffer", pooled, len(b))
	}
}

// pooledWrite folds the packed reply of write seq (4 KiB at offset of
// file 8) whose data is a WriteBuffer buffer filled with fill, as the
// client does (FoldPooledReply when pooled), and returns the buffer.
func pooledWrite(t *testing.T, l *Log, seq uint64, offset int64, fill byte, pooledFold bool) []byte {
	t.Helper()
	b, pooled := l.WriteBuffer(4096)
	if !pooled {
		t.Fatal("WriteBuffer(4096) not pooled")
	}
	for i := range b {
		b[i] = fill
	}
	call := &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_WRITE,
		Args: []uint64{3, 0x1000, 4096}, Inputs: []*pb.Region{{Addr: 0x1000, Data: b}}}}}
	r := &pb.Reply{Seq: seq, Ret: 4096, Written: &pb.PostedWrite{File: 8, Offset: offset, MovedTo: offset + 4096}}
	if pooledFold {
		l.FoldPooledReply(call, r)
	} else {
		l.FoldReply(call, r)
	}
	return b
}

// TestWriteBufferReuse: a write behind's buffer comes back for a later
// write only after a Durable push dropped the write it retains, and only
// when folded as pooled; re-sent data is a copy; the pool is bounded.
func TestWriteBufferReuse(t *testing.T) {
	t.Run("durable", func(t *testing.T) {
		l := New()
		l.Fold(recFile(8, 0, "/tmp/out"), nil)
		b1 := pooledWrite(t, l, 5, 0, 'a', true)
		b2 := pooledWrite(t, l, 6, 4096, 'b', true)
		if got := l.pool.pooledBytes(); got != 0 {
			t.Fatalf("pool holds %d bytes while both writes are retained", got)
		}
		if b, _ := l.WriteBuffer(4096); &b[0] == &b1[0] || &b[0] == &b2[0] {
			t.Fatal("a retained write's buffer was handed out")
		}
		l.Durable(8, 5)
		if got := l.pool.pooledBytes(); got != 4096 {
			t.Fatalf("pool holds %d bytes after write 5 became durable, want 4096", got)
		}
		if b, _ := l.WriteBuffer(4096); &b[0] != &b1[0] {
			t.Error("the durable write's buffer was not reused")
		}
		rw := l.RetainedWrites()
		if len(rw) != 1 || rw[0].Seq != 6 || !bytes.Equal(rw[0].Data, bytes.Repeat([]byte{'b'}, 4096)) {
			t.Fatalf("retained %v, want write 6's 4 KiB of b", rw)
		}
		if &rw[0].Data[0] == &b2[0] {
			t.Error("RetainedWrites handed out a pooled buffer, want a copy")
		}
	})
	t.Run("not pooled", func(t *testing.T) {
		l := New()
		l.Fold(recFile(8, 0, "/tmp/out"), nil)
		pooledWrite(t, l, 5, 0, 'a', false)
		l.Durable(8, 5)
		if got := l.pool.pooledBytes(); got != 0 {
			t.Errorf("a write folded with FoldReply gave its buffer to the pool (%d bytes)", got)
		}
	})
	t.Run("folded again", func(t *testing.T) {
		l := New()
		l.Fold(recFile(8, 0, "/tmp/out"), nil)
		pooledWrite(t, l, 5, 0, 'a', true)
		// The same write's record again without its call (a reply of
		// a re-sent call whose first reply came): the record no
		// longer holds the buffer, which is not reused.
		l.FoldReply(nil, &pb.Reply{Seq: 5, Ret: 4096, Written: &pb.PostedWrite{File: 8, Offset: 0, MovedTo: 4096}})
		l.Durable(8, 5)
		if got := l.pool.pooledBytes(); got != 0 {
			t.Errorf("a buffer whose record was folded again went to the pool (%d bytes)", got)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		l := New()
		l.Fold(recFile(8, 0, "/tmp/out"), nil)
		n := maxPooledBytes/4096 + 10
		for i := 0; i < n; i++ {
			pooledWrite(t, l, uint64(i+1), int64(i)*4096, 'c', true)
		}
		l.Durable(8, uint64(n))
		if got := l.pool.pooledBytes(); got != maxPooledBytes {
			t.Errorf("pool holds %d bytes after %d writes became durable, want its bound %d", got, n, maxPooledBytes)
		}
	})
}
