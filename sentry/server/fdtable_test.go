package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
)

// TestHighFDsSurviveRestore: fds far above 1024, one of them above a
// limit lowered after it was opened, and the limit itself come back
// after the server is replaced.
func TestHighFDsSurviveRestore(t *testing.T) {
	r := newReplayer(t)
	r.start()
	setNofile := func(n uint64) {
		lim := make([]byte, 16)
		binary.LittleEndian.PutUint64(lim, n)
		binary.LittleEndian.PutUint64(lim[8:], n)
		c := r.syscallCall(1, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, 0x1000, 0)
		c.GetSyscall().Inputs = append(c.GetSyscall().Inputs, &sentrypb.Region{Addr: 0x1000, Data: lim})
		if rep := r.call(c, false); rep.Errno != 0 {
			t.Fatalf("prlimit64: %v", unix.Errno(rep.Errno))
		}
	}
	setNofile(fdtable.NrOpen)
	fd := r.open("/tmp/high", unix.O_CREAT|unix.O_RDWR)
	r.write(1, fd, "high fd data", nil)
	r.ok(1, unix.SYS_DUP2, fd, 1000000)
	r.ok(1, unix.SYS_DUP2, fd, 5000)
	r.ok(1, unix.SYS_CLOSE, fd)
	setNofile(2000)

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	r.ok(1, unix.SYS_LSEEK, 1000000, 0, unix.SEEK_SET)
	if got := r.readStr(1, 1000000, 64); got != "high fd data" {
		t.Errorf("fd 1000000 after restore reads %q", got)
	}
	if got := r.ok(1, unix.SYS_LSEEK, 5000, 0, unix.SEEK_CUR); got != 12 {
		t.Errorf("fd 5000 (sharing the description) at offset %d, want 12", got)
	}
	if rep := r.sys(1, unix.SYS_DUP2, 0, 2000); unix.Errno(rep.Errno) != unix.EBADF {
		t.Errorf("dup2 at the restored limit: errno %v, want EBADF", unix.Errno(rep.Errno))
	}
	if got := r.ok(1, unix.SYS_DUP2, 0, 1999); got != 1999 {
		t.Errorf("dup2 below the restored limit: %d", got)
	}
}
