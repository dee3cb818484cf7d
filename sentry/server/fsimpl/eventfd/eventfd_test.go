package eventfd

import (
	"encoding/binary"
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
			if count, sem := e.State(); count != tc.wantCount || sem != tc.sem {
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
