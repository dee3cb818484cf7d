package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func flockArgs(m *appMem, typ int16, start, length int64) uint64 {
	b := make([]byte, 32) // struct flock (amd64)
	binary.LittleEndian.PutUint16(b, uint16(typ))
	binary.LittleEndian.PutUint64(b[8:], uint64(start))
	binary.LittleEndian.PutUint64(b[16:], uint64(length))
	return m.alloc(b)
}

// TestLockHeldAcrossRestore: a POSIX lock and an OFD lock taken before
// the server dies are held by the same owners after the restore.
func TestLockHeldAcrossRestore(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	fd := r.open("/tmp/locked", unix.O_CREAT|unix.O_RDWR)
	ofd := r.open("/tmp/locked", unix.O_RDWR)
	r.ok(1, unix.SYS_FCNTL, fd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, 0, 10))
	r.ok(1, unix.SYS_FCNTL, ofd, unix.F_OFD_SETLK, flockArgs(m, unix.F_WRLCK, 100, 0))
	child := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	cfd := uint64(r.ok(child, unix.SYS_OPENAT, uint64(atFDCWD64), m.str("/tmp/locked"), unix.O_RDWR, 0))

	r.recover(nil)

	for _, tc := range []struct {
		name       string
		start, len int64
		want       unix.Errno
	}{
		{"the parent's POSIX lock", 5, 1, unix.EAGAIN},
		{"the OFD lock", 200, 1, unix.EAGAIN},
		{"a free range", 20, 10, 0},
	} {
		rep := r.sys(child, unix.SYS_FCNTL, cfd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, tc.start, tc.len))
		if unix.Errno(rep.Errno) != tc.want {
			t.Errorf("%s: child's F_SETLK errno %v, want %v", tc.name, unix.Errno(rep.Errno), tc.want)
		}
	}
	// The owners are the restored ones: closing the parent's fd drops its
	// POSIX lock; the OFD lock goes with the description's last fd (the
	// child inherited one).
	r.ok(1, unix.SYS_CLOSE, fd)
	r.ok(child, unix.SYS_FCNTL, cfd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, 5, 1))
	r.ok(1, unix.SYS_CLOSE, ofd)
	if rep := r.sys(child, unix.SYS_FCNTL, cfd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, 200, 1)); unix.Errno(rep.Errno) != unix.EAGAIN {
		t.Errorf("OFD lock with one fd of its description left: errno %v, want EAGAIN", unix.Errno(rep.Errno))
	}
	r.ok(child, unix.SYS_CLOSE, ofd)
	r.ok(child, unix.SYS_FCNTL, cfd, unix.F_SETLK, flockArgs(m, unix.F_WRLCK, 200, 1))
}

// TestFifoAcrossRestore: a FIFO held open across a restore keeps its
// pipe: unread data is still there, and a new open of the FIFO meets the
// restored pipe.
func TestFifoAcrossRestore(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	written := make(map[uint64][]byte)
	r.start()
	r.ok(1, unix.SYS_MKNOD, m.str("/tmp/fifo"), unix.S_IFIFO|0644, 0)
	rw := r.open("/tmp/fifo", unix.O_RDWR)
	r.write(1, rw, "before", written)

	r.recover(written)

	rd := r.open("/tmp/fifo", unix.O_RDONLY|unix.O_NONBLOCK)
	if got := r.readStr(1, rd, 64); got != "before" {
		t.Errorf("read %q from a new open of the restored FIFO, want %q", got, "before")
	}
	r.write(1, rw, "after", nil)
	if got := r.readStr(1, rd, 64); got != "after" {
		t.Errorf("read %q, want %q", got, "after")
	}
}
