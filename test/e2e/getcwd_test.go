package e2e

import (
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// getcwdCall matches a getcwd in the client's strace and where it was
// answered.
var getcwdCall = regexp.MustCompile(`getcwd\([^)]*\) = [^:]*: tid=\d+ where=(\w+)`)

// TestGetcwdOnClient runs testdata/getcwd/getcwd.c natively and under do
// (same output): 50 getcwds in a/b, 50 after a rename of a, 50 after a
// chdir to the renamed directory. The reply of a getcwd holds the search
// leases of the cwd and of every directory above it (a rename of any of
// them revokes one), so the client answers the same getcwd while they
// hold (sentry/client/pathcache.go): the first and last phases ask the
// server at most twice (the first call, and the one that takes the
// lease). After the rename the path the server names (/c/b) is not the
// one the cwd's record holds (a/b, as chdir made it), so no answer is
// kept until the next chdir: those 50 wait, as is safe.
func TestGetcwdOnClient(t *testing.T) {
	tu.RequireRoot(t)
	where := whereCounts(getcwdCall, stracedTestdata(t, "getcwd", "getcwd"))
	t.Logf("getcwd by where: %v", where)
	if all := where["cached"] + where["forwarded"]; all != 151 {
		t.Fatalf("%d getcwds counted, want 151", all)
	}
	if where["cached"] < 96 {
		t.Errorf("%d getcwds answered on the client, want at least 96 (48 in each of the first and last phases)", where["cached"])
	}
}
