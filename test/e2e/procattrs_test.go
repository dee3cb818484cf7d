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

// TestSchedLimitsSent runs testdata/nicelimit/nicelimit.c under do: the
// RLIMIT_NICE and RLIMIT_RTPRIO a root process sets before it becomes
// another user let it lower its nice value and take a real-time priority
// that far and no further, and a fork inherits them: the client sends the
// limits to the server, which checks the scheduling calls. Compared with
// Linux's documented answers (a container without CAP_SYS_RESOURCE cannot
// raise the hard limits natively).
func TestSchedLimitsSent(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "nicelimit", testdataSource(t, "nicelimit", "nicelimit"))
	want := tu.Result{Stdout: "nice -5: ok\nnice -6: Permission denied\nFIFO 11: Operation not permitted\nFIFO 10: ok\n" +
		"child back to SCHED_OTHER: ok\nchild nice 0: ok\nchild nice -5: ok\n"}
	sandboxLogged(t, t.TempDir(), nil, &want, prog)
}
