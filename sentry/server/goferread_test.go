package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGoferReadSizeHint: a read asks the gofer for what the file held
// past the offset when the server last learnt its size (the attribute
// cache's), one byte more, and makes room for that alone. The size is a
// hint: a file that grew or shrank behind the server's back (another
// writer of the host file) still reads whole, to its end.
func TestGoferReadSizeHint(t *testing.T) {
	pattern := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + i>>10)
		}
		return b
	}
	tests := []struct {
		name string
		// behind, if not nil, is what the host file holds when it is
		// read (written after the server learnt its size).
		behind []byte
		off, n int
	}{
		{name: "as learnt", off: 0, n: 4 << 20},
		{name: "from the middle", off: 1234, n: 4 << 20},
		{name: "at the end", off: 5000, n: 4 << 20},
		{name: "a short read", off: 10, n: 100},
		{name: "grown by a little", behind: pattern(5001), off: 0, n: 4 << 20},
		{name: "grown past a chunk", behind: pattern(3<<20 + 7), off: 0, n: 4 << 20},
		{name: "grown, read from past the old end", behind: pattern(9000), off: 6000, n: 1 << 20},
		{name: "shrunk", behind: pattern(100), off: 0, n: 4 << 20},
	}
	for _, donate := range []bool{true, false} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("donate=%v/%s", donate, tc.name), func(t *testing.T) {
				e, _, _, _ := donatingEnv(t, donate)
				host := filepath.Join(e.root, "tmp/f")
				data := pattern(5000)
				if err := os.WriteFile(host, data, 0o644); err != nil {
					t.Fatal(err)
				}
				m := e.mem
				fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/f"), unix.O_RDONLY, 0))
				// The server learns the size.
				e.ok(1, unix.SYS_FSTAT, fd, m.zeros(144))
				if tc.behind != nil {
					if err := os.WriteFile(host, tc.behind, 0o644); err != nil {
						t.Fatal(err)
					}
					data = tc.behind
				}
				checkPread(t, e, fd, data, tc.off, tc.n)
			})
		}
	}
}

// checkPread preads n bytes at off of fd and checks they are data's.
func checkPread(t *testing.T, e *env, fd uint64, data []byte, off, n int) {
	t.Helper()
	buf := e.mem.zeros(n)
	got := e.ok(1, unix.SYS_PREAD64, fd, buf, uint64(n), uint64(off))
	want := data[min(off, len(data)):min(off+n, len(data))]
	b, err := e.mem.ReadAt(buf, int(got))
	if err != nil || int(got) != len(want) || !bytes.Equal(b, want) {
		t.Errorf("pread of %d at %d: %d bytes (%v), equal %v; want %d", n, off, got, err, bytes.Equal(b, want), len(want))
	}
}

// TestCopyFileRangeSmallFileAllocates: cp copies each file with a
// copy_file_range of its whole length (asking for far more), which the
// server serves in chunks of 4 MiB. A small file's copy makes room for
// the file's bytes, not for a chunk: a 4 MiB buffer, zeroed, for each
// call was most of the server's work in a cp -r of small files.
func TestCopyFileRangeSmallFileAllocates(t *testing.T) {
	e, _, _, _ := donatingEnv(t, true)
	data := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	const copies = 20
	m := e.mem
	fds := make([][2]uint64, copies)
	for i := range fds {
		name := fmt.Sprintf("tmp/src%d", i)
		if err := os.WriteFile(filepath.Join(e.root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		in := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/"+name), unix.O_RDONLY, 0))
		e.ok(1, unix.SYS_FSTAT, in, m.zeros(144))
		out := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(fmt.Sprintf("/tmp/dst%d", i)), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644))
		fds[i] = [2]uint64{in, out}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, f := range fds {
		// As cp: the whole length asked for, until a copy returns 0.
		if n := e.ok(1, unix.SYS_COPY_FILE_RANGE, f[0], 0, f[1], 0, 0x7fffffffc0000000, 0); n != int64(len(data)) {
			t.Fatalf("copy_file_range: %d, want %d", n, len(data))
		}
		if n := e.ok(1, unix.SYS_COPY_FILE_RANGE, f[0], 0, f[1], 0, 0x7fffffffc0000000, 0); n != 0 {
			t.Fatalf("copy_file_range at the end: %d, want 0", n)
		}
	}
	runtime.ReadMemStats(&after)
	for i := range fds {
		got, err := os.ReadFile(filepath.Join(e.root, fmt.Sprintf("tmp/dst%d", i)))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("copy %d: %d bytes (%v), want the source's %d", i, len(got), err, len(data))
		}
	}
	// Each copy's own bytes travel (the reply carries them for the
	// client to keep): a few KiB a call, not MiBs.
	const bound = 2 * copies << 20
	if a := after.TotalAlloc - before.TotalAlloc; a > bound {
		t.Errorf("%d copies of %d bytes allocated %d bytes in the server (at most %d): a chunk's room for each", copies, len(data), a, bound)
	}
}
