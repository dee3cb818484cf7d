package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestIoprio runs testdata/ioprio natively and under do: ioprio_set and
// ioprio_get (ENOSYS before) of a thread, a process group and a user,
// with Linux 6.18's checks (classes, levels, hints, RT's privilege,
// another user's process), inheritance at fork, and a group's or user's
// highest priority, a thread with none counting as BE 4.
func TestIoprio(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "ioprio", "ioprio")
}
