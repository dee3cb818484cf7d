package eventfd

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
)

func u64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

func TestEventfd(t *testing.T) {
	for _, tc := range []struct {
		name      string
		init      uint64
		sem       bool
		add       []uint64
		wantReads []uint64 // values read, until EAGAIN
		wantCount uint64   // the counter after the reads
	}{
		{name: "counter", init: 3, add: []uint64{4}, wantReads: []uint64{7}},
		{name: "semaphore", init: 2, sem: true, wantReads: []uint64{1, 1}},
		{name: "empty", init: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(tc.init, tc.sem, unix.O_NONBLOCK)
			if err != nil {
				t.Fatal(err)
			}
			defer f.DecRef()
			e := f.Impl.(*File)
			trk := &tracker{}
			f.SetTracker(trk)
			c := &fdesctest.Call{}
			for _, v := range tc.add {
				if n, err := e.Write(c, f, u64(v), 0); n != 8 || err != nil {
					t.Fatalf("Write(%d) = %d, %v", v, n, err)
				}
			}
			var reads []uint64
			for {
				b, err := e.Read(c, f, 8, 0)
				if err == unix.EAGAIN {
					break
				}
				if err != nil || len(b) != 8 {
					t.Fatalf("Read = %v, %v", b, err)
				}
				reads = append(reads, binary.NativeEndian.Uint64(b))
			}
			if len(reads) != len(tc.wantReads) {
				t.Fatalf("read %v, want %v", reads, tc.wantReads)
			}
			for i := range reads {
				if reads[i] != tc.wantReads[i] {
					t.Errorf("read %v, want %v", reads, tc.wantReads)
				}
			}
			if count, _, sem := e.State(); count != tc.wantCount || sem != tc.sem {
				t.Errorf("State() = %d, %v; want %d, %v", count, sem, tc.wantCount, tc.sem)
			}
			if want := len(tc.add) + len(tc.wantReads); trk.touched != want {
				t.Errorf("%d changes reported, want %d", trk.touched, want)
			}
		})
	}
}

type tracker struct{ touched int }

func (t *tracker) TouchFile(*fdesc.File) { t.touched++ }

// TestEventfdBlocks: a read of an empty eventfd waits for a write, and a
// short buffer is EINVAL.
func TestEventfdBlocks(t *testing.T) {
	f, err := New(0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	e := f.Impl.(*File)
	if _, err := e.Read(&fdesctest.Call{}, f, 4, 0); err != unix.EINVAL {
		t.Errorf("4-byte read = %v, want EINVAL", err)
	}
	if ev, _ := e.Readiness(f); ev&unix.POLLIN != 0 {
		t.Errorf("empty eventfd readable: %#x", ev)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		e.Write(&fdesctest.Call{}, f, u64(5), 0)
	}()
	c := &fdesctest.Call{}
	b, err := e.Read(c, f, 8, 0)
	if err != nil || binary.NativeEndian.Uint64(b) != 5 {
		t.Errorf("blocking read = %v, %v; want 5", b, err)
	}
	if c.Blocks == 0 {
		t.Error("the read did not wait")
	}
}

// replyCall is a call whose counter changes are committed only when its
// reply is built (answer), as the server's are.
type replyCall struct {
	fdesctest.Call
	changes []func()
}

func (c *replyCall) RecordEventfd(e *File, _ *fdesc.File, added bool, v uint64) bool {
	c.changes = append(c.changes, func() { e.Commit(added, v) })
	return true
}

func (c *replyCall) answer() {
	for _, f := range c.changes {
		f()
	}
	c.changes = nil
}

// TestEventfdRecordAnsweredCalls: the record is the counter as the calls
// whose replies were built left it, so that the calls in flight at a
// server's death, re-sent to the restored eventfd, take effect once: a
// write whose value a read answered before it took is not added again,
// and a read without a reply takes its value again.
func TestEventfdRecordAnsweredCalls(t *testing.T) {
	for _, tc := range []struct {
		name string
		sem  bool
		// writes are made, then reads (until EAGAIN); the first
		// unanswered writes had no reply when the server died, the
		// others were answered after the reads if readsAnswered.
		writes        []uint64
		unanswered    int
		readsAnswered bool
		// want is what reads get after the restore, the calls without a
		// reply re-sent (writes first, then the reads).
		want []uint64
	}{
		{name: "read answered before the write", writes: []uint64{3}, unanswered: 1, readsAnswered: true, want: nil},
		{name: "read answered before the writes, one answered", writes: []uint64{3, 4}, unanswered: 1, readsAnswered: true, want: nil},
		{name: "read without a reply", writes: []uint64{3}, want: []uint64{3}},
		{name: "neither answered", writes: []uint64{3, 4}, unanswered: 2, want: []uint64{7}},
		{name: "both answered", writes: []uint64{3}, readsAnswered: true, want: nil},
		{name: "semaphore read answered before the write", sem: true, writes: []uint64{2}, unanswered: 1, readsAnswered: true, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(0, tc.sem, unix.O_NONBLOCK)
			if err != nil {
				t.Fatal(err)
			}
			defer f.DecRef()
			e := f.Impl.(*File)
			var writes, reads []*replyCall
			for _, v := range tc.writes {
				c := &replyCall{}
				if n, err := e.Write(c, f, u64(v), 0); n != 8 || err != nil {
					t.Fatalf("Write(%d) = %d, %v", v, n, err)
				}
				writes = append(writes, c)
			}
			for {
				c := &replyCall{}
				if _, err := e.Read(c, f, 8, 0); err == unix.EAGAIN {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				reads = append(reads, c)
			}
			if tc.readsAnswered {
				for _, c := range reads {
					c.answer()
				}
			}
			for _, c := range writes[tc.unanswered:] {
				c.answer()
			}
			count, owed, sem := e.State()
			// The server dies; the calls without a reply are re-sent.
			rf, err := Restore(count, owed, sem, unix.O_NONBLOCK)
			if err != nil {
				t.Fatal(err)
			}
			defer rf.DecRef()
			re := rf.Impl.(*File)
			for _, v := range tc.writes[:tc.unanswered] {
				if n, err := re.Write(&fdesctest.Call{}, rf, u64(v), 0); n != 8 || err != nil {
					t.Fatalf("re-sent Write(%d) = %d, %v", v, n, err)
				}
			}
			var got []uint64
			for {
				b, err := re.Read(&fdesctest.Call{}, rf, 8, 0)
				if err == unix.EAGAIN {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				got = append(got, binary.NativeEndian.Uint64(b))
			}
			if len(reads) == 0 {
				t.Fatal("nothing was read before the restore")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("reads %v after the restore, want %v (record count %d owed %d)", got, tc.want, count, owed)
			}
		})
	}
}
