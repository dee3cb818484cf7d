package goferclient

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
)

// readFillSize is the size of readFillEnv's file: /usr/include's
// headers are mostly a few KiB to a few tens.
const readFillSize = 16 << 10

// readFillEnv returns the attribute cache over GoferConn (framed wire,
// call channels, donated fds) to an in-process gofer, a read-only handle
// of a file of readFillSize bytes it opened, the file's content, and a
// host fd of the file (to move its times: a new version).
func readFillEnv(tb testing.TB) (*AttrCache, uint64, []byte, int) {
	tb.Helper()
	root := tb.TempDir()
	gc := quietFramedConn(tb, root)
	a := NewAttrCache(goferpb.NewGoferClient(gc))
	ctx := context.Background()
	at, err := a.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || at.Errno != 0 {
		tb.Fatalf("Attach: %v %v", err, unix.Errno(at.GetErrno()))
	}
	content := bytes.Repeat([]byte("#define X 1\n"), readFillSize/12+1)[:readFillSize]
	path := filepath.Join(root, "f.h")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		tb.Fatal(err)
	}
	w, err := a.Walk(ctx, &goferpb.WalkRequest{Dir: at.Root.Id, Names: [][]byte{[]byte("f.h")}, Open: true, OpenFlags: unix.O_RDONLY})
	if err != nil || w.Errno != 0 || w.OpenErrno != 0 || len(w.Files) != 1 {
		tb.Fatalf("walk-open: %v %v", err, w)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	return a, w.Files[0].Handle.Id, content, fd
}

// newVersion moves the file's times (utimensat of fd, allocating nothing)
// and has the cache learn them: its cached data, if any, is of an older
// version, and the next whole read fills it again.
func newVersion(tb testing.TB, a *AttrCache, h uint64, fd int) {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); e != 0 {
		tb.Fatalf("utimensat: %v", e)
	}
	if r, err := a.Stat(FreshAttrs(context.Background()), &goferpb.StatRequest{Handle: h}); err != nil || r.Errno != 0 {
		tb.Fatalf("stat: %v %v", err, r)
	}
}

// TestReadFillKeepsData: a whole read of a small file fills the data
// cache, which answers the next read with the file's content, also when
// the read was made into the caller's buffer (donated.ReadInto) and the
// caller then reused that buffer: the cache keeps its own copy of it.
func TestReadFillKeepsData(t *testing.T) {
	a, h, content, fd := readFillEnv(t)
	ctx := context.Background()
	req := &goferpb.ReadRequest{Handle: h, Length: readFillSize + 1}
	for _, into := range []bool{false, true} {
		newVersion(t, a, h, fd)
		var opts []grpc.CallOption
		buf := make([]byte, readFillSize+1)
		if into {
			opts = append(opts, &donated.ReadInto{Buf: buf})
		}
		r, err := a.Read(ctx, req, opts...)
		if err != nil || r.Errno != 0 || !bytes.Equal(r.Data, content) {
			t.Fatalf("read (into the caller's buffer: %v): %v, errno %v, %d bytes", into, err, r.GetErrno(), len(r.GetData()))
		}
		// The caller's use of what it was given, or of its buffer.
		for i := range buf {
			buf[i] = 'x'
		}
		if !into {
			r.Data = nil
		}
		again, err := a.Read(ctx, req)
		if err != nil || again.Errno != 0 || !bytes.Equal(again.Data, content) {
			t.Errorf("cached read after a read (into the caller's buffer: %v): %v, errno %v, %q..., want the file's content", into, err, again.GetErrno(), again.GetData()[:min(16, len(again.GetData()))])
		}
	}
}

// BenchmarkReadFill: a whole read of a small file whose cached data is
// of an older version (each file cp -r copies is read once so, for its
// lease), from the attribute cache through the donated fd, with the
// Stat that learns the new version; -benchmem counts the bytes.
func BenchmarkReadFill(b *testing.B) {
	a, h, _, fd := readFillEnv(b)
	ctx := context.Background()
	req := &goferpb.ReadRequest{Handle: h, Length: readFillSize + 1}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		newVersion(b, a, h, fd)
		r, err := a.Read(ctx, req)
		if err != nil || r.Errno != 0 || len(r.Data) != readFillSize {
			b.Fatalf("read: %v %v", err, r.GetErrno())
		}
	}
}

// TestKeptData: the data cache keeps a reply's own buffer as it is
// (capped at its length), but copies one read into the caller's buffer
// or one far larger than the file.
func TestKeptData(t *testing.T) {
	own := make([]byte, 100, 101)
	for _, tc := range []struct {
		name     string
		data     []byte
		into     bool
		wantSame bool
	}{
		{"the reply's own buffer", own, false, true},
		{"read into the caller's buffer", own, true, false},
		{"a whole lease window for a small file", make([]byte, 100, 256<<10), false, false},
	} {
		got := keptData(tc.data, tc.into)
		if same := &got[0] == &tc.data[0]; same != tc.wantSame || !bytes.Equal(got, tc.data) || (same && cap(got) != len(got)) {
			t.Errorf("%s: kept the buffer itself %v (want %v), %d bytes of capacity %d", tc.name, same, tc.wantSame, len(got), cap(got))
		}
	}
}
