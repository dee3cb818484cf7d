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
	setNofile(fdtable.DefaultNrOpen)
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

// TestNrOpenRestore: an RLIMIT_NOFILE raised above fs/nr_open's default
// after a write of nr_open, and an fd above that default, come back after
// the server is replaced, and so does nr_open as last written (the
// sysctl record), lowered below them; and the process records say where
// a lowered nr_open stops the table growing (ProcessState.fd_room), for
// the client's predicted fds, before and after the restore.
func TestNrOpenRestore(t *testing.T) {
	r := newReplayer(t)
	r.start()
	sysctl := func(s string) unix.Errno {
		fd := r.open("/proc/sys/fs/nr_open", unix.O_WRONLY)
		defer r.ok(1, unix.SYS_CLOSE, fd)
		return unix.Errno(r.sys(1, unix.SYS_WRITE, fd, r.mem.alloc([]byte(s)), uint64(len(s))).Errno)
	}
	readSysctl := func() string {
		fd := r.open("/proc/sys/fs/nr_open", unix.O_RDONLY)
		defer r.ok(1, unix.SYS_CLOSE, fd)
		return r.readStr(1, fd, 32)
	}
	setNofile := func(n uint64) unix.Errno {
		lim := make([]byte, 16)
		binary.LittleEndian.PutUint64(lim, n)
		binary.LittleEndian.PutUint64(lim[8:], n)
		c := r.syscallCall(1, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, 0x1000, 0)
		c.GetSyscall().Inputs = append(c.GetSyscall().Inputs, &sentrypb.Region{Addr: 0x1000, Data: lim})
		return unix.Errno(r.call(c, false).Errno)
	}
	const high = 3000000
	if e := setNofile(high + 1); e != unix.EPERM {
		t.Fatalf("prlimit64 above nr_open: %v, want EPERM", e)
	}
	if e := sysctl("4000000\n"); e != 0 {
		t.Fatalf("write nr_open: %v", e)
	}
	if e := setNofile(high + 1); e != 0 {
		t.Fatalf("prlimit64 under the raised nr_open: %v", e)
	}
	r.ok(1, unix.SYS_DUP2, 0, high)
	room := func() uint32 {
		var got uint32
		for _, rec := range r.records() {
			if p := rec.GetProcess(); p != nil && p.Pid == 1 {
				got = p.FdRoom
			}
		}
		return got
	}
	if got := room(); got != 0 {
		t.Errorf("fd_room %d under a raised nr_open, want 0", got)
	}
	if e := sysctl("64"); e != 0 {
		t.Fatalf("write nr_open: %v", e)
	}
	// The table grew to nr_open (4000000, a multiple of 64), short of
	// the next power of two.
	if got := room(); got != 4000000 {
		t.Errorf("fd_room %d with nr_open lowered, want the table's room 4000000", got)
	}

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	if got := readSysctl(); got != "64\n" {
		t.Errorf("nr_open after restore %q, want 64 as written", got)
	}
	if got := r.ok(1, unix.SYS_FCNTL, high, unix.F_GETFD); got != 0 {
		t.Errorf("fd %d after restore: F_GETFD %d", high, got)
	}
	if got := r.ok(1, unix.SYS_DUP2, 0, high-1); got != high-1 {
		t.Errorf("dup2 under the restored limit: %d", got)
	}

}

// TestNrOpenRoomRestore: a table that grew under a raised nr_open keeps
// its room (Linux's max_fds) across a server failure, so that with
// nr_open lowered below RLIMIT_NOFILE the fds the old server accepted
// without growing the table (and the client predicts by fd_room) are
// accepted after it, and those past the room are still refused.
func TestNrOpenRoomRestore(t *testing.T) {
	r := newReplayer(t)
	r.start()
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/fs/nr_open", "4000000"))
	lim := make([]byte, 16)
	binary.LittleEndian.PutUint64(lim, 4000000)
	binary.LittleEndian.PutUint64(lim[8:], 4000000)
	c := r.syscallCall(1, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, 0x1000, 0)
	c.GetSyscall().Inputs = append(c.GetSyscall().Inputs, &sentrypb.Region{Addr: 0x1000, Data: lim})
	if e := unix.Errno(r.call(c, false).Errno); e != 0 {
		t.Fatalf("prlimit64 RLIMIT_NOFILE 4000000: %v", e)
	}
	// The table grows to the next power of two above fd 1500000.
	r.ok(1, unix.SYS_DUP2, 0, 1500000)
	r.ok(1, unix.SYS_CLOSE, r.writeProc("/proc/sys/fs/nr_open", "64"))
	const room = 1 << 21
	for _, phase := range []string{"before", "after"} {
		if phase == "after" {
			if rep := r.recover(nil); rep.Ret != 0 {
				t.Fatalf("Restore lost %d objects", rep.Ret)
			}
		}
		for _, tc := range []struct {
			fd   uint64
			want unix.Errno
		}{
			{room - 1, 0},
			{room, unix.EBADF},
		} {
			e := unix.Errno(r.sys(1, unix.SYS_DUP2, 0, tc.fd).Errno)
			if e != tc.want {
				t.Errorf("%s the restore: dup2 to %d with the table's room %d: %v, want %v", phase, tc.fd, room, e, tc.want)
			}
			if e == 0 {
				r.ok(1, unix.SYS_CLOSE, tc.fd)
			}
		}
	}
}
