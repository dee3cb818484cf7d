package e2e

import (
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// missingOpen matches a read-only open that failed ENOENT in the client's
// strace and where it was answered.
var missingOpen = regexp.MustCompile(`openat\(AT_FDCWD, "[^"]*", 0x80000, 0x0\) = -1 ENOENT .*where=(\w+)`)

// TestMissingOpenOnClient runs testdata/openmissing/missing.c natively and
// under do: its read-only opens of a missing file (550 in all) are
// answered ENOENT by the client from the kept answer of the same open
// (sentry/client/openmissing.go), and the file made by the program, by a
// child, by a rename over the name, or in a directory made later, must be
// opened at once, as on Linux (the creation revokes the missing name's
// lease before its reply).
func TestMissingOpenOnClient(t *testing.T) {
	tu.RequireRoot(t)
	where := whereCounts(missingOpen, stracedTestdata(t, "openmissing", "missing"))
	t.Logf("opens failing ENOENT: %v", where)
	// Each of the 5 rounds forwards its first open (it wants the lease),
	// and one more if the lease ran out (renewed at each heartbeat, up to
	// ten TTLs after its grant).
	if where["cached"]+where["forwarded"] != 550 || where["forwarded"] > 30 {
		t.Errorf("opens failing ENOENT answered %v, want 550 in all, at most 30 of them forwarded", where)
	}
}
