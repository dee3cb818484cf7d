package server

import (
	"bytes"
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPairSendResentAfterRead: a stream socketpair write that blocked
// part way (its peer's buffer full) when the server died is re-sent
// whole after the Restore; the bytes its reader had read (answered,
// before the write's reply: the server builds another thread's reply
// first) are not queued again, and the reader gets the write's bytes
// once, in order (the chaos workload socketpair printed every line one
// behind when they were).
func TestPairSendResentAfterRead(t *testing.T) {
	r := newReplayer(t)
	r.start()
	sv := r.mem.zeros(8)
	r.ok(1, unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_STREAM, 0, sv)
	a, b := uint64(r.mem.u32(sv)), uint64(r.mem.u32(sv+4))
	reader := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	if reader == 0 {
		t.Fatal("fork failed")
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i % 251)
	}
	// The write blocks once the pair's buffer is full; its reply is
	// lost with the server.
	w := r.syscallCall(1, unix.SYS_WRITE, a, r.mem.alloc(data), uint64(len(data)))
	r.mu.Lock()
	r.seq++
	w.Seq = r.seq
	r.mu.Unlock()
	conn := r.conn
	go conn.Call(context.Background(), w)
	// The reader's reads are answered.
	const readFirst = 5000
	got := []byte(r.readStr(reader, b, readFirst))
	for len(got) < readFirst {
		got = append(got, r.readStr(reader, b, readFirst-len(got))...)
	}
	time.Sleep(50 * time.Millisecond) // the write fills the room the reads made
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	// The client re-sends the write; the reader reads on.
	done := make(chan error, 1)
	conn = r.conn
	go func() {
		rep, err := conn.Call(context.Background(), w)
		if err == nil && (rep.Errno != 0 || rep.Ret != int64(len(data))) {
			t.Errorf("re-sent write: ret %d errno %v, want %d", rep.Ret, unix.Errno(rep.Errno), len(data))
		}
		done <- err
	}()
	for len(got) < len(data) {
		got = append(got, r.readStr(reader, b, min(64<<10, len(data)-len(got)))...)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(got, data); i >= 0 {
		t.Fatalf("the reader got the write's bytes wrong from byte %d on (read %d before the restore)", i, readFirst)
	}
	left := r.mem.zeros(4)
	if r.ok(reader, unix.SYS_IOCTL, b, unix.SIOCINQ, left); r.mem.u32(left) != 0 {
		t.Errorf("%d more bytes queued after the write's", r.mem.u32(left))
	}
}

// firstDiff is the index of the first byte where got and want differ (or
// one ends), -1 if equal.
func firstDiff(got, want []byte) int {
	if bytes.Equal(got, want) {
		return -1
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return i
		}
	}
	return min(len(got), len(want))
}
