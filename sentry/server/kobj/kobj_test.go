package kobj

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/safemem"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

func TestSequenceCopyOut(t *testing.T) {
	tests := []struct {
		name    string
		iov     []sysabi.Iovec
		data    string
		wantN   int
		want    []sysabi.Region
		wantErr error
	}{
		{"one buffer", []sysabi.Iovec{{Base: 0x1000, Len: 8}}, "abc", 3,
			[]sysabi.Region{{Addr: 0x1000, Data: []byte("abc")}}, nil},
		{"spans two iovecs", []sysabi.Iovec{{Base: 0x1000, Len: 2}, {Base: 0x2000, Len: 4}}, "abcdef", 6,
			[]sysabi.Region{{Addr: 0x1000, Data: []byte("ab")}, {Addr: 0x2000, Data: []byte("cdef")}}, nil},
		{"short source", []sysabi.Iovec{{Base: 0x1000, Len: 2}, {Base: 0x2000, Len: 4}}, "abc", 3,
			[]sysabi.Region{{Addr: 0x1000, Data: []byte("ab")}, {Addr: 0x2000, Data: []byte("c")}}, nil},
		{"null buffer", []sysabi.Iovec{{Base: 0, Len: 4}}, "abcd", 0, nil, unix.EFAULT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := sysabi.NewMemory(nil)
			seq, err := Sequence(mem, tc.iov)
			if err != nil {
				t.Fatal(err)
			}
			n, err := seq.CopyOut(Ctx(), []byte(tc.data))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("CopyOut err %v, want %v", err, tc.wantErr)
			}
			if n != tc.wantN {
				t.Fatalf("CopyOut n %d, want %d", n, tc.wantN)
			}
			got := mem.Outputs()
			if len(got) != len(tc.want) {
				t.Fatalf("outputs %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Addr != tc.want[i].Addr || !bytes.Equal(got[i].Data, tc.want[i].Data) {
					t.Fatalf("output %d = %#x %q, want %#x %q", i, got[i].Addr, got[i].Data, tc.want[i].Addr, tc.want[i].Data)
				}
			}
		})
	}
}

func TestSequenceCopyOutFromReader(t *testing.T) {
	mem := sysabi.NewMemory(nil)
	seq, _ := Sequence(mem, []sysabi.Iovec{{Base: 0x1000, Len: 3}, {Base: 0x3000, Len: 3}})
	n, err := seq.CopyOutFrom(Ctx(), safemem.FromIOReader{Reader: bytes.NewReader([]byte("hello"))})
	if err != nil || n != 5 {
		t.Fatalf("CopyOutFrom = %d, %v; want 5", n, err)
	}
	out := mem.Outputs()
	if len(out) != 2 || string(out[0].Data) != "hel" || out[1].Addr != 0x3000 || string(out[1].Data) != "lo" {
		t.Fatalf("outputs %+v", out)
	}
}

func TestSequenceCopyIn(t *testing.T) {
	mem := sysabi.NewMemory([]sysabi.Region{{Addr: 0x1000, Data: []byte("abc")}, {Addr: 0x2000, Data: []byte("defg")}})
	tests := []struct {
		name    string
		iov     []sysabi.Iovec
		want    string
		wantErr error
	}{
		{"two inputs", []sysabi.Iovec{{Base: 0x1000, Len: 3}, {Base: 0x2000, Len: 4}}, "abcdefg", nil},
		{"part of one", []sysabi.Iovec{{Base: 0x2001, Len: 2}}, "ef", nil},
		{"not sent", []sysabi.Iovec{{Base: 0x5000, Len: 2}}, "", unix.EFAULT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq, _ := Sequence(mem, tc.iov)
			buf := make([]byte, seq.NumBytes())
			n, err := seq.CopyIn(Ctx(), buf)
			if !errors.Is(err, tc.wantErr) || string(buf[:n]) != tc.want {
				t.Fatalf("CopyIn = %q, %v; want %q, %v", buf[:n], err, tc.want, tc.wantErr)
			}
			var w bytes.Buffer
			m, err := seq.CopyInTo(Ctx(), safemem.FromIOWriter{Writer: &w})
			if !errors.Is(err, tc.wantErr) || w.String() != tc.want || int(m) != len(tc.want) {
				t.Fatalf("CopyInTo = %q (%d), %v; want %q, %v", w.String(), m, err, tc.want, tc.wantErr)
			}
		})
	}
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}

// writeVal and readVal go through the bridge, as the server's calls do.
func writeVal(t *testing.T, e *Eventfd, v uint64) error {
	t.Helper()
	mem := sysabi.NewMemory([]sysabi.Region{{Addr: 0x1000, Data: u64(v)}})
	seq, _ := BufferSequence(mem, 0x1000, 8)
	_, _, err := e.Write(seq, nil)
	return err
}

func readVal(t *testing.T, e *Eventfd) (uint64, error) {
	t.Helper()
	mem := sysabi.NewMemory(nil)
	seq, _ := BufferSequence(mem, 0x1000, 8)
	if _, _, err := e.Read(seq); err != nil {
		return 0, err
	}
	out := mem.Outputs()
	if len(out) != 1 || len(out[0].Data) != 8 {
		t.Fatalf("read outputs %+v", out)
	}
	return binary.LittleEndian.Uint64(out[0].Data), nil
}

func TestEventfd(t *testing.T) {
	tests := []struct {
		name      string
		init      uint64
		sem       bool
		writes    []uint64
		wantReads []uint64 // then EAGAIN
	}{
		{"counter", 0, false, []uint64{3, 4}, []uint64{7}},
		{"initial value", 5, false, nil, []uint64{5}},
		{"semaphore", 1, true, []uint64{2}, []uint64{1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEventfd(tc.init, tc.sem)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Release()
			ch := e.Watch.Changed()
			for _, w := range tc.writes {
				if err := writeVal(t, e, w); err != nil {
					t.Fatalf("write %d: %v", w, err)
				}
			}
			if len(tc.writes) > 0 {
				select {
				case <-ch:
				default:
					t.Fatal("write did not notify the watch")
				}
			}
			if e.Readiness()&uint32(waiter.ReadableEvents) == 0 {
				t.Fatal("not readable with a non-zero counter")
			}
			for _, want := range tc.wantReads {
				got, err := readVal(t, e)
				if err != nil || got != want {
					t.Fatalf("read = %d, %v; want %d", got, err, want)
				}
			}
			if _, err := readVal(t, e); !WouldBlock(err) {
				t.Fatalf("read of a zero counter: %v, want EAGAIN", err)
			}
			if e.Count() != 0 {
				t.Fatalf("count %d after draining", e.Count())
			}
		})
	}
}

func TestEventfdWriteErrors(t *testing.T) {
	e, err := NewEventfd(0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	if err := writeVal(t, e, ^uint64(0)); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("write of 2^64-1: %v, want EINVAL", err)
	}
	if err := writeVal(t, e, ^uint64(0)-1); err != nil {
		t.Fatal(err)
	}
	if err := writeVal(t, e, 1); !WouldBlock(err) {
		t.Fatalf("overflowing write: %v, want EAGAIN", err)
	}
	if e.Count() != ^uint64(0)-1 {
		t.Fatalf("count %d", e.Count())
	}
	mem := sysabi.NewMemory(nil)
	seq, _ := BufferSequence(mem, 0x1000, 4)
	if _, _, err := e.Write(seq, nil); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("4-byte write: %v, want EINVAL", err)
	}
}
