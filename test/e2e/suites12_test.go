package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSuites12Fixes compares programs of testdata/suites12 with a native
// run; each guards what the public suites (docs/COMPATIBILITY.md,
// "Measured against public suites") found different.
func TestSuites12Fixes(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range []string{
		// creat_symlink: open(O_CREAT) of a symlink creates or opens
		// its target (it was ENOENT for a dangling one).
		"creat_symlink",
		// synth_times: /dev's and /proc's times stand still and are
		// older than the program (they were each stat's time).
		"synth_times",
	} {
		t.Run(name, func(t *testing.T) {
			prog := tu.StaticProgram(t, t.TempDir(), name, testdataSource(t, "suites12", name))
			want := tu.Run(t, timeout, worldWritableDir(t), "", prog)
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			compare(t, want, tu.Sandbox(t, timeout, worldWritableDir(t), "", nil, prog))
		})
	}
}
