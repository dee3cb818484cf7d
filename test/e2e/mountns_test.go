package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestMountNamespace runs testdata/mountns natively and in the sandbox
// and compares the outputs: unshare(CLONE_NEWNS) and clone(CLONE_NEWNS)
// copy the caller's mounts, mounts and umounts in one namespace stay out
// of the other but for propagation between shared peers, and
// /proc/<pid>/mountinfo is the process's namespace's. Natively the child
// makes its mounts private before mounting anything, so the host's
// mounts do not change.
func TestMountNamespace(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "mountns", "mountns")
}
