package gofer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestSeek: Seek answers SEEK_DATA and SEEK_HOLE of a sparse file as the
// host does for the same file, from a handle open for reading or only
// for writing, and refuses other whences, directories and unknown
// handles.
func TestSeek(t *testing.T) {
	e := newEnv(t)
	f := e.create(e.rootH, "s", unix.O_RDWR, 0o644)
	e.write(f, 0, strings.Repeat("x", 4096), 0)
	e.write(f, 1<<20, strings.Repeat("y", 4096), 0)
	wo := e.create(e.rootH, "w", unix.O_WRONLY, 0o644)
	e.write(wo, 1<<20, "z", 0)
	d := e.mkdir(e.rootH, "d")
	host := func(name string, off int64, whence int) (int64, unix.Errno) {
		hf, err := os.Open(filepath.Join(e.root, name))
		if err != nil {
			t.Fatal(err)
		}
		defer hf.Close()
		n, err := unix.Seek(int(hf.Fd()), off, whence)
		if err != nil {
			return 0, err.(unix.Errno)
		}
		return n, 0
	}
	for _, tc := range []struct {
		name   string
		h      uint64
		file   string // "": tc.want is the answer
		off    int64
		whence int
		want   unix.Errno
	}{
		{name: "data at 0", h: f, file: "s", whence: unix.SEEK_DATA},
		{name: "hole at 0", h: f, file: "s", whence: unix.SEEK_HOLE},
		{name: "data in the hole", h: f, file: "s", off: 8192, whence: unix.SEEK_DATA},
		{name: "hole in the hole", h: f, file: "s", off: 8192, whence: unix.SEEK_HOLE},
		{name: "data past the end", h: f, file: "s", off: 2 << 20, whence: unix.SEEK_DATA},
		{name: "negative", h: f, file: "s", off: -1, whence: unix.SEEK_HOLE},
		{name: "write-only handle", h: wo, file: "w", whence: unix.SEEK_DATA},
		{name: "SEEK_END", h: f, whence: unix.SEEK_END, want: unix.EINVAL},
		{name: "directory", h: d, whence: unix.SEEK_DATA, want: unix.EINVAL},
		{name: "bad handle", h: 1 << 60, whence: unix.SEEK_DATA, want: unix.EBADF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.c.Seek(e.ctx, &goferpb.SeekRequest{Handle: tc.h, Offset: tc.off, Whence: uint32(tc.whence)})
			if err != nil {
				t.Fatal(err)
			}
			want, wantErr := int64(0), tc.want
			if tc.file != "" {
				want, wantErr = host(tc.file, tc.off, tc.whence)
			}
			if got := unix.Errno(r.GetErrno()); got != wantErr || r.GetOffset() != want {
				t.Errorf("offset %d errno %v, want %d %v", r.GetOffset(), got, want, wantErr)
			}
		})
	}
}
