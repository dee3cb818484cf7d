package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestCPUClockTimerRecovery: the id of a timer on a CPU-time clock (whose
// setting the client keeps) comes back after a server failure: it is
// still the client's to set, can be deleted, and is not handed out again.
func TestCPUClockTimerRecovery(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	id := m.zeros(4)
	r.ok(1, unix.SYS_TIMER_CREATE, unix.CLOCK_PROCESS_CPUTIME_ID, 0, id)
	r.crash()
	if rep := r.recover(nil); rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}
	cpu := uint64(m.u32(id))
	if rep := r.sys(1, unix.SYS_TIMER_GETTIME, cpu, m.zeros(32)); unix.Errno(rep.Errno) != unix.EINVAL {
		t.Errorf("timer_gettime of the restored CPU-clock timer on the server: errno %v, want EINVAL (the client's)", unix.Errno(rep.Errno))
	}
	next := m.zeros(4)
	r.ok(1, unix.SYS_TIMER_CREATE, unix.CLOCK_MONOTONIC, 0, next)
	if m.u32(next) == m.u32(id) {
		t.Errorf("timer id %d handed out again after the restore", m.u32(id))
	}
	r.ok(1, unix.SYS_TIMER_DELETE, cpu)
	if rep := r.sys(1, unix.SYS_TIMER_DELETE, cpu); unix.Errno(rep.Errno) != unix.EINVAL {
		t.Errorf("second timer_delete: errno %v, want EINVAL", unix.Errno(rep.Errno))
	}
}
