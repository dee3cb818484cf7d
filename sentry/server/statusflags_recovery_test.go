package server

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestStatusFlagsSurviveRecovery: F_GETFL answers the same after a
// server kill: O_LARGEFILE, which open and memfd_create set and a pipe's
// end lacks, is a kept flag of the description's record.
func TestStatusFlagsSurviveRecovery(t *testing.T) {
	r := newReplayer(t)
	r.start()
	m := r.mem
	file := r.open("/tmp/a", unix.O_CREAT|unix.O_RDWR)
	path := r.open("/tmp/a", unix.O_PATH)
	memfd := uint64(r.ok(1, unix.SYS_MEMFD_CREATE, m.str("m"), 0))
	fds := m.zeros(8)
	r.ok(1, unix.SYS_PIPE2, fds, unix.O_NONBLOCK)
	b := m.bytes(fds, 8)
	pipeRead := uint64(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	want := map[uint64]int64{
		file:     linux.O_LARGEFILE | unix.O_RDWR,
		path:     unix.O_PATH,
		memfd:    linux.O_LARGEFILE | unix.O_RDWR,
		pipeRead: unix.O_NONBLOCK,
	}
	check := func(when string) {
		for fd, w := range want {
			if got := r.ok(1, unix.SYS_FCNTL, fd, unix.F_GETFL); got != w {
				t.Errorf("%s: F_GETFL of fd %d = %#o, want %#o", when, fd, got, w)
			}
		}
	}
	check("before the recovery")
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	check("after the recovery")
}
