package server

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFallocateResentOnce: a fallocate whose reply died with the server,
// re-sent to its successor, is answered from the gofer's reply cache, not
// applied again over what came after it.
func TestFallocateResentOnce(t *testing.T) {
	for _, donate := range []bool{false, true} {
		t.Run(map[bool]string{false: "gofer", true: "donated"}[donate], func(t *testing.T) {
			r := newReplayerDonating(t, donate)
			r.start()
			fd := r.open("/tmp/f", unix.O_RDWR|unix.O_CREAT)
			c := r.syscallCall(1, unix.SYS_FALLOCATE, fd, 0, 0, 8192)
			if rep := r.call(c, true); rep.Errno != 0 {
				t.Fatalf("fallocate: %v", unix.Errno(rep.Errno))
			}
			r.ok(1, unix.SYS_FTRUNCATE, fd, 100)
			r.recover(nil)
			if rep := r.call(c, false); rep.Errno != 0 {
				t.Fatalf("fallocate re-sent: %v", unix.Errno(rep.Errno))
			}
			fi, err := os.Stat(filepath.Join(r.root, "tmp/f"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != 100 {
				t.Errorf("size %d after the re-sent fallocate, want 100 (applied once, before the truncate)", fi.Size())
			}
		})
	}
}

// TestFallocateErrors: vfs_fallocate's checks, made before the gofer is
// asked.
func TestFallocateErrors(t *testing.T) {
	e := started(t)
	rw := e.open("/tmp/g", unix.O_RDWR|unix.O_CREAT)
	ro := e.open("/tmp/g", unix.O_RDONLY)
	fds := e.mem.zeros(8)
	e.ok(1, unix.SYS_PIPE2, fds, 0)
	pipeW := uint64(e.mem.u32(fds + 4))
	dir := e.open("/tmp", unix.O_RDONLY|unix.O_DIRECTORY)
	for _, tc := range []struct {
		name           string
		fd             uint64
		mode, off, len uint64
		want           unix.Errno
	}{
		{"allocate", rw, 0, 0, 4096, 0},
		{"zero length", rw, 0, 0, 0, unix.EINVAL},
		{"negative offset", rw, 0, ^uint64(0), 1, unix.EINVAL},
		{"unknown flag", rw, 0x100, 0, 1, unix.EOPNOTSUPP},
		{"no hide stale", rw, unix.FALLOC_FL_NO_HIDE_STALE, 0, 1, unix.EOPNOTSUPP},
		{"punch without keep size", rw, unix.FALLOC_FL_PUNCH_HOLE, 0, 1, unix.EOPNOTSUPP},
		{"punch and zero", rw, unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_ZERO_RANGE | unix.FALLOC_FL_KEEP_SIZE, 0, 1, unix.EOPNOTSUPP},
		{"collapse with keep size", rw, unix.FALLOC_FL_COLLAPSE_RANGE | unix.FALLOC_FL_KEEP_SIZE, 0, 4096, unix.EOPNOTSUPP},
		{"overflow", rw, 0, 1 << 62, 1 << 62, unix.EFBIG},
		{"read-only fd", ro, 0, 0, 1, unix.EBADF},
		{"pipe", pipeW, 0, 0, 1, unix.ESPIPE},
		{"directory", dir, 0, 0, 1, unix.EBADF},
		{"bad fd", 999, 0, 0, 1, unix.EBADF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rep := e.sys(1, unix.SYS_FALLOCATE, tc.fd, tc.mode, tc.off, tc.len); unix.Errno(rep.Errno) != tc.want {
				t.Errorf("errno %v, want %v", unix.Errno(rep.Errno), tc.want)
			}
		})
	}
}
