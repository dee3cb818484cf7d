package gofer

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestFallocate: the host file is extended, kept at its size, or has a
// hole punched, as Linux's fallocate does; files not open for writing,
// directories and bad ranges give Linux's errnos; a call re-sent with the
// same Origin is applied once.
func TestFallocate(t *testing.T) {
	e := newEnv(t)
	f := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
	e.write(f, 0, strings.Repeat("x", 8192), 0)
	ro := e.create(e.rootH, "ro", unix.O_RDONLY, 0o644)
	d := e.mkdir(e.rootH, "d")
	const keep, punch = unix.FALLOC_FL_KEEP_SIZE, unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE
	for _, tc := range []struct {
		name     string
		h        uint64
		mode     uint32
		off, len uint64
		want     unix.Errno
		size     uint64
	}{
		{"extend", f, 0, 8192, 8192, 0, 16384},
		{"keep size", f, keep, 16384, 4096, 0, 16384},
		{"punch hole", f, punch, 0, 4096, 0, 16384},
		{"punch without keep size", f, unix.FALLOC_FL_PUNCH_HOLE, 0, 4096, unix.EOPNOTSUPP, 0},
		{"zero length", f, 0, 0, 0, unix.EINVAL, 0},
		{"negative offset", f, 0, 1 << 63, 1, unix.EINVAL, 0},
		{"past the largest offset", f, 0, 1 << 62, 1 << 62, unix.EFBIG, 0},
		{"not open for writing", ro, 0, 0, 1, unix.EBADF, 0},
		{"directory", d, 0, 0, 1, unix.EISDIR, 0},
		{"bad handle", 1 << 60, 0, 0, 1, unix.EBADF, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.c.Fallocate(e.ctx, &goferpb.FallocateRequest{Handle: tc.h, Mode: tc.mode, Offset: tc.off, Length: tc.len})
			if err != nil {
				t.Fatal(err)
			}
			if got := unix.Errno(r.GetErrno()); got != tc.want {
				t.Fatalf("errno %v, want %v", got, tc.want)
			}
			if tc.want == 0 && r.GetStat().GetSize() != tc.size {
				t.Errorf("size %d, want %d", r.GetStat().GetSize(), tc.size)
			}
		})
	}
	if got := e.read(f, 0, 8); got != strings.Repeat("\x00", 8) {
		t.Errorf("punched range reads %q, want zeros", got)
	}
	if got := e.read(f, 4096, 4); got != "xxxx" {
		t.Errorf("after the hole: %q", got)
	}

	// Re-sent with the same Origin (a sentry restarted), a call is
	// answered from the reply cache, not run again: the truncation made
	// after it stands.
	g := e.create(e.rootH, "g", unix.O_RDWR, 0o644)
	req := &goferpb.FallocateRequest{Handle: g, Length: 4096, Origin: &goferpb.Origin{ClientId: "c1", Seq: 7}}
	must(t, "fallocate", must2(e.c.Fallocate(e.ctx, req)))
	must(t, "truncate", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: g, Mask: unix.STATX_SIZE, Size: 0})))
	if r := must(t, "fallocate re-sent", must2(e.c.Fallocate(e.ctx, req))); r.GetStat().GetSize() != 0 {
		t.Errorf("re-sent reply: size %d, want the file's current 0", r.GetStat().GetSize())
	}
	if st := e.stat(g); st.GetSize() != 0 {
		t.Errorf("after the re-sent call: size %d, want 0 (run twice)", st.GetSize())
	}
}

// TestFallocateCheckSize: a call with check_size runs only on a file of
// size size_before; otherwise it does nothing, says size_differs with the
// file's attributes, and is not kept in the reply cache (sent again with
// the right size and the same Origin, it runs).
func TestFallocateCheckSize(t *testing.T) {
	e := newEnv(t)
	f := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
	e.write(f, 0, strings.Repeat("a", 4096)+strings.Repeat("b", 4096)+strings.Repeat("c", 4096), 0)
	origin := &goferpb.Origin{ClientId: "c1", Seq: 8}
	for _, tc := range []struct {
		name        string
		sizeBefore  uint64
		wantDiffers bool
		wantSize    uint64
	}{
		{"other size", 8192, true, 12288},
		{"same origin, its size", 12288, false, 8192},
		{"same origin again: the reply cache", 12288, false, 8192},
		{"new origin, the old size", 12288, true, 8192},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "new origin") {
				origin = &goferpb.Origin{ClientId: "c1", Seq: 9}
			}
			r := must(t, "fallocate", must2(e.c.Fallocate(e.ctx, &goferpb.FallocateRequest{Handle: f, Mode: unix.FALLOC_FL_COLLAPSE_RANGE,
				Offset: 4096, Length: 4096, CheckSize: true, SizeBefore: tc.sizeBefore, Origin: origin})))
			if r.GetSizeDiffers() != tc.wantDiffers || r.GetStat().GetSize() != tc.wantSize {
				t.Errorf("size_differs %v size %d, want %v %d", r.GetSizeDiffers(), r.GetStat().GetSize(), tc.wantDiffers, tc.wantSize)
			}
			if st := e.stat(f); st.GetSize() != tc.wantSize {
				t.Errorf("the file's size is %d, want %d", st.GetSize(), tc.wantSize)
			}
		})
	}
	if got := e.read(f, 0, 8192); got != strings.Repeat("a", 4096)+strings.Repeat("c", 4096) {
		t.Errorf("the file reads %q...%q, want a's then c's (collapsed once)", got[:1], got[4096:4097])
	}
}
