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
