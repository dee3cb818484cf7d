package server

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// TestLeasesOwnersLimitsSurviveRestore: a description's lease, owner and
// I/O signal, a pipe's size and a process's RLIMIT_FSIZE and
// coredump_filter come back after the server is replaced.
func TestLeasesOwnersLimitsSurviveRestore(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()

	fd := r.open("/tmp/leased", unix.O_CREAT|unix.O_RDONLY)
	r.ok(1, unix.SYS_FCNTL, fd, unix.F_SETLEASE, unix.F_RDLCK)
	r.ok(1, unix.SYS_FCNTL, fd, unix.F_SETSIG, uint64(unix.SIGUSR1))
	fds := m.zeros(8)
	r.ok(1, unix.SYS_PIPE2, fds, 0)
	wfd := uint64(m.u32(fds + 4))
	r.ok(1, unix.SYS_FCNTL, wfd, unix.F_SETPIPE_SZ, 8192)
	owner := make([]byte, 8)
	binary.LittleEndian.PutUint32(owner, fdesc.OwnerPGRP)
	binary.LittleEndian.PutUint32(owner[4:], 1)
	r.ok(1, unix.SYS_FCNTL, wfd, unix.F_SETOWN_EX, m.alloc(owner))
	// As the client sends it: the new limit as an input region.
	lim := make([]byte, 16)
	binary.LittleEndian.PutUint64(lim, 100)
	binary.LittleEndian.PutUint64(lim[8:], linux.RLimInfinity)
	c := r.syscallCall(1, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_FSIZE, 0x1000, 0)
	c.GetSyscall().Inputs = append(c.GetSyscall().Inputs, &sentrypb.Region{Addr: 0x1000, Data: lim})
	if rep := r.call(c, false); rep.Errno != 0 {
		t.Fatalf("prlimit64: %v", unix.Errno(rep.Errno))
	}

	r.write(1, r.open("/proc/self/coredump_filter", unix.O_WRONLY), "0x7f", nil)

	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	if got := r.readStr(1, r.open("/proc/self/coredump_filter", unix.O_RDONLY), 16); got != "0000007f\n" {
		t.Errorf("coredump_filter after restore: %q, want 0000007f", got)
	}

	old := m.zeros(16)
	r.ok(1, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_FSIZE, 0, old)
	got := m.zeros(8)
	r.ok(1, unix.SYS_FCNTL, wfd, unix.F_GETOWN_EX, got)
	for _, tc := range []struct {
		name      string
		got, want int64
	}{
		{"lease", r.ok(1, unix.SYS_FCNTL, fd, unix.F_GETLEASE), unix.F_RDLCK},
		{"io signal", r.ok(1, unix.SYS_FCNTL, fd, unix.F_GETSIG), int64(unix.SIGUSR1)},
		{"lease holder's owner", r.ok(1, unix.SYS_FCNTL, fd, unix.F_GETOWN), 1},
		{"pipe size", r.ok(1, unix.SYS_FCNTL, wfd, unix.F_GETPIPE_SZ), 8192},
		{"owner type", int64(m.u32(got)), fdesc.OwnerPGRP},
		{"owner id", int64(m.u32(got + 4)), 1},
		{"fsize limit", int64(binary.LittleEndian.Uint64(m.bytes(old, 8))), 100},
	} {
		if tc.got != tc.want {
			t.Errorf("%s after restore: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if rep := r.sys(1, unix.SYS_TRUNCATE, m.str("/tmp/leased"), 200); unix.Errno(rep.Errno) != unix.EFBIG {
		t.Errorf("truncate beyond the restored RLIMIT_FSIZE: errno %v, want EFBIG", unix.Errno(rep.Errno))
	}
	// The restored lease still conflicts: a write lease of another
	// description is refused.
	fd2 := r.open("/tmp/leased", unix.O_RDONLY)
	if rep := r.sys(1, unix.SYS_FCNTL, fd2, unix.F_SETLEASE, unix.F_WRLCK); unix.Errno(rep.Errno) != unix.EAGAIN {
		t.Errorf("write lease beside the restored read lease: errno %v, want EAGAIN", unix.Errno(rep.Errno))
	}
}
