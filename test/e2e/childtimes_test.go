package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestChildrenCPUTimes runs testdata/childtimes/childtimes.c natively and
// under do: a waited child's CPU time, with its own waited children's,
// reaches its parent's times (tms_cutime), getrusage(RUSAGE_CHILDREN) and
// the wait4's rusage; a child not yet waited for, or reaped without a
// wait, adds nothing. They were always 0 (LTP times03).
func TestChildrenCPUTimes(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "childtimes", "childtimes")
}

// TestPeakResidentSets runs testdata/maxrss/maxrss.c natively and under
// do: ru_maxrss of getrusage (RUSAGE_SELF, kept across exec and started
// at the parent's by fork; RUSAGE_THREAD; RUSAGE_CHILDREN, a reaped
// child's and grandchild's, not a zombie's nor an auto-reaped one's) and
// of wait4's rusage, and /proc/self/status's VmSwap. They were 0 and
// absent (LTP getrusage03).
func TestPeakResidentSets(t *testing.T) {
	stracedTestdata(t, "maxrss", "maxrss")
}
