package client

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestSchedPriorityRange: sched_get_priority_max and _min answer as
// Linux: 1..99 for SCHED_FIFO and SCHED_RR, 0 for the other policies,
// EINVAL for no policy (4 is no policy, nor is a negative one).
func TestSchedPriorityRange(t *testing.T) {
	for _, tc := range []struct {
		policy   uint64
		min, max uint64
		errno    unix.Errno
	}{
		{0, 0, 0, 0},  // SCHED_OTHER
		{1, 1, 99, 0}, // SCHED_FIFO
		{2, 1, 99, 0}, // SCHED_RR
		{3, 0, 0, 0},  // SCHED_BATCH
		{4, 0, 0, unix.EINVAL},
		{5, 0, 0, 0}, // SCHED_IDLE
		{6, 0, 0, 0}, // SCHED_DEADLINE
		{7, 0, 0, unix.EINVAL},
		{^uint64(0), 0, 0, unix.EINVAL},
	} {
		hi, e1 := sysSchedGetPriorityMax(nil, [6]uint64{tc.policy})
		lo, e2 := sysSchedGetPriorityMin(nil, [6]uint64{tc.policy})
		if e1 != tc.errno || e2 != tc.errno || e1 == 0 && (hi != tc.max || lo != tc.min) {
			t.Errorf("policy %d: max %d (%v), min %d (%v); want %d, %d (%v)", int64(tc.policy), hi, e1, lo, e2, tc.max, tc.min, tc.errno)
		}
	}
}
