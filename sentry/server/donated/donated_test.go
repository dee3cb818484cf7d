package donated

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestCheck: only an open regular file with the access mode asked for
// is taken; anything else is closed.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		path  string
		open  int
		asked uint32
		ok    bool
	}{
		{"read-only as asked", file, unix.O_RDONLY, unix.O_RDONLY, true},
		{"read-write as asked", file, unix.O_RDWR, unix.O_RDWR | unix.O_TRUNC, true},
		{"write-only as asked", file, unix.O_WRONLY, unix.O_WRONLY, true},
		{"read-write for a read-only open", file, unix.O_RDWR, unix.O_RDONLY, false},
		{"read-only for a write open", file, unix.O_RDONLY, unix.O_WRONLY, false},
		{"O_PATH", file, unix.O_PATH, unix.O_RDONLY, false},
		{"a directory", dir, unix.O_RDONLY | unix.O_DIRECTORY, unix.O_RDONLY, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := unix.Open(tc.path, tc.open|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			f := Check(fd, tc.asked)
			if (f != nil) != tc.ok {
				t.Fatalf("Check took it: %v, want %v", f != nil, tc.ok)
			}
			if f == nil {
				if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
					t.Errorf("a refused fd was left open (%v)", err)
				}
				return
			}
			defer f.Close()
			acc := tc.asked & unix.O_ACCMODE
			if f.Read != (acc != unix.O_WRONLY) || f.Write != (acc != unix.O_RDONLY) || f.Stat.GetSize() != 10 {
				t.Errorf("File read %v write %v size %d", f.Read, f.Write, f.Stat.GetSize())
			}
		})
	}
}

// TestLocalCalls: Read, Write and Size answer as the gofer does, and the
// fd is closed with the last reference.
func TestLocalCalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := Hold(Check(fd, unix.O_RDWR), true)
	h.Ref()

	for _, tc := range []struct {
		off  uint64
		n    uint32
		want string
		errn unix.Errno
	}{
		{0, 4, "0123", 0},
		{8, 100, "89", 0}, // short: the end of the file
		{100, 4, "", 0},
		{math.MaxInt64 + 1, 4, "", unix.EINVAL},
	} {
		for _, into := range [][]byte{nil, make([]byte, 2), make([]byte, 128)} {
			rep := new(goferpb.ReadReply)
			h.Read(&goferpb.ReadRequest{Offset: tc.off, Length: tc.n}, rep, into)
			if string(rep.Data) != tc.want || unix.Errno(rep.Errno) != tc.errn {
				t.Errorf("Read %d at %d into %d bytes: %q errno %v, want %q errno %v", tc.n, tc.off, len(into), rep.Data, unix.Errno(rep.Errno), tc.want, tc.errn)
			}
			// Into a buffer long enough, the bytes are its prefix.
			if inPlace := len(rep.Data) > 0 && len(into) >= int(tc.n) && &rep.Data[0] == &into[0]; len(rep.Data) > 0 && inPlace != (len(into) >= int(tc.n)) {
				t.Errorf("Read %d at %d into %d bytes: read in place %v", tc.n, tc.off, len(into), inPlace)
			}
		}
	}
	w := new(goferpb.WriteReply)
	h.Write(&goferpb.WriteRequest{Offset: 12, Data: []byte("ab")}, w)
	if w.Errno != 0 || w.Written != 2 || w.Stat.GetSize() != 14 {
		t.Errorf("Write past the end: %v", w)
	}
	h.Write(&goferpb.WriteRequest{Offset: math.MaxInt64, Data: []byte("ab")}, w)
	if unix.Errno(w.Errno) != unix.EFBIG {
		t.Errorf("Write beyond the largest offset: errno %v, want EFBIG", unix.Errno(w.Errno))
	}
	h.SetInexact()
	h.Write(&goferpb.WriteRequest{Offset: 0, Data: []byte("x")}, w)
	if w.Stat != nil {
		t.Error("an inexact fd's Write carries attributes")
	}
	s := new(goferpb.StatReply)
	h.Size(s)
	if s.Stat.GetSize() != 14 {
		t.Errorf("Size: %v", s)
	}
	if b, _ := os.ReadFile(path); string(b) != "x123456789\x00\x00ab" {
		t.Errorf("file holds %q", b)
	}

	h.Ref() // a local call in flight
	h.Put() // the holder lets go
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("fd closed while a call uses it: %v", err)
	}
	h.Put()
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("fd left open after the last reference (%v)", err)
	}
}

// TestReadOnlyWrite: a write through a read-only donation fails as the
// host says (EBADF).
func TestReadOnlyWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := Hold(Check(fd, unix.O_RDONLY), true)
	h.Ref()
	defer h.Put()
	w := new(goferpb.WriteReply)
	h.Write(&goferpb.WriteRequest{Data: []byte("y")}, w)
	if unix.Errno(w.Errno) != unix.EBADF {
		t.Errorf("write through a read-only fd: errno %v, want EBADF", unix.Errno(w.Errno))
	}
}
