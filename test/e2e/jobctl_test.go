package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// jobctlPrograms are the C programs of testdata/jobctl, each compared
// with a native run.
var jobctlPrograms = []string{"stop"}

// TestJobControlPrograms runs the stop-signal programs natively and in
// the sandbox (both platforms: stopping threads is the client's work).
func TestJobControlPrograms(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range jobctlPrograms {
		prog := tu.StaticProgram(t, dir, name, testdataSource(t, "jobctl", name))
		for _, p := range platforms {
			t.Run(p+"/"+name, func(t *testing.T) {
				want := tu.Run(t, timeout, dir, "", prog)
				got := tu.Sandbox(t, timeout, dir, "", []string{"--platform", p}, prog)
				compare(t, want, got)
			})
		}
	}
}
