package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestCPUAffinity runs testdata/affinity/affinity.c natively and under
// do: a thread's allowed CPUs are kept and inherited, getcpu names one,
// and sched_setaffinity and sched_getaffinity fail as Linux's (EINVAL,
// EFAULT, ESRCH, EPERM for another user's process). sched_setaffinity
// did nothing and sched_getaffinity always said every CPU (LTP
// sched_setaffinity01, sched_getaffinity01, getcpu01).
func TestCPUAffinity(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "affinity", "affinity")
}

// TestRobustListOfOthers runs testdata/robustlist/robustlist.c natively
// and under do: get_robust_list reads another thread's head when the
// caller may inspect it (EPERM as another user), ESRCH for no such
// thread; it was EPERM for any thread but the caller (LTP
// get_robust_list01).
func TestRobustListOfOthers(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "robustlist", "robustlist")
}

// TestStickyTimeouts runs testdata/sticky/sticky.c natively and under do:
// select, pselect6 and ppoll leave their timeout as it was under the
// STICKY_TIMEOUTS personality, and write the time left otherwise (LTP
// personality02).
func TestStickyTimeouts(t *testing.T) {
	stracedTestdata(t, "sticky", "sticky")
}
