package server

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// maxFileSize finds the largest size a file in dir may have (the file
// system's s_maxbytes): a write there is cut short, and the next one
// fails with EFBIG.
func maxFileSize(t *testing.T, dir string) int64 {
	t.Helper()
	f, err := os.CreateTemp(dir, "maxbytes")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	lo, hi := int64(0), int64(1<<63-1) // a write at lo works, at hi fails
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		_, err := unix.Pwrite(int(f.Fd()), []byte{0}, mid)
		switch {
		case err == nil:
			lo = mid
		case errors.Is(err, unix.EFBIG) || errors.Is(err, unix.EINVAL):
			hi = mid
		default:
			t.Fatalf("pwrite at %d: %v", mid, err)
		}
		if err := f.Truncate(0); err != nil {
			t.Fatal(err)
		}
	}
	return hi
}

// TestMergedWriteCut: a merged write behind (Syscall.write_parts) whose
// host write is cut short exactly between two of its parts goes on with
// the next, as the next unmerged write would have been tried, and keeps
// the error that write meets (EFBIG past the file system's largest
// size); cut inside a part it keeps EIO, as an unmerged short write
// does. Either way its count is the bytes written and the description's
// offset follows them.
func TestMergedWriteCut(t *testing.T) {
	tests := []struct {
		name string
		// parts are the merged writes' counts (nil: one write of four
		// bytes); end is where the write starts, before the largest
		// size.
		parts    []uint64
		before   int64
		wantRet  int64
		wantKept unix.Errno
	}{
		{name: "cut between parts", parts: []uint64{2, 2}, before: 2, wantRet: 2, wantKept: unix.EFBIG},
		{name: "cut after the first of three", parts: []uint64{1, 1, 2}, before: 1, wantRet: 1, wantKept: unix.EFBIG},
		{name: "cut inside a part", parts: []uint64{1, 3}, before: 2, wantRet: 2, wantKept: unix.EIO},
		{name: "one write cut", before: 2, wantRet: 2, wantKept: unix.EIO},
		{name: "not cut", parts: []uint64{2, 2}, before: 4, wantRet: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			m := e.mem
			limit := maxFileSize(t, filepath.Join(e.root, "tmp"))
			fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/merged"), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o644))
			start := limit - tc.before
			e.ok(1, unix.SYS_LSEEK, fd, uint64(start), unix.SEEK_SET)
			buf := m.alloc([]byte("wxyz"))
			var parts *sentrypb.WriteParts
			if tc.parts != nil {
				parts = &sentrypb.WriteParts{Lengths: tc.parts}
			}
			r := e.call(&sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
				Sysno: unix.SYS_WRITE, Args: []uint64{fd, buf, 4, 0, 0, 0}, Posted: true, WriteParts: parts,
				Inputs: []*sentrypb.Region{{Addr: buf, Data: []byte("wxyz")}}}}})
			if r.Errno != 0 || r.Ret != tc.wantRet {
				t.Fatalf("merged write: ret %d errno %v, want %d", r.Ret, unix.Errno(r.Errno), tc.wantRet)
			}
			if off := e.ok(1, unix.SYS_LSEEK, fd, 0, unix.SEEK_CUR); off != start+tc.wantRet {
				t.Errorf("offset %d after the write, want %d", off, start+tc.wantRet)
			}
			if tc.wantKept == 0 {
				e.ok(1, unix.SYS_FSYNC, fd)
			} else {
				e.fails(tc.wantKept, 1, unix.SYS_FSYNC, fd)
			}
		})
	}
}

// TestBetweenParts: where a merged write's bytes end between two of its
// parts (not at its start or its end).
func TestBetweenParts(t *testing.T) {
	tests := []struct {
		parts   []uint64
		written int
		want    bool
	}{
		{[]uint64{2, 2}, 2, true},
		{[]uint64{2, 2}, 1, false},
		{[]uint64{2, 2}, 3, false},
		{[]uint64{2, 2}, 4, false},
		{[]uint64{2, 2}, 0, false},
		{[]uint64{1, 2, 3}, 3, true},
		{[]uint64{1, 2, 3}, 1, true},
		{[]uint64{1, 2, 3}, 6, false},
		{[]uint64{4}, 2, false},
		{nil, 2, false},
	}
	for _, tc := range tests {
		c := &kernel.Task{WriteParts: tc.parts}
		if got := c.BetweenParts(tc.written); got != tc.want {
			t.Errorf("parts %v, %d written: between parts %v, want %v", tc.parts, tc.written, got, tc.want)
		}
	}
}
