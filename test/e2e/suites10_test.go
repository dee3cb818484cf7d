package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSuites10Fixes compares programs of testdata/suites10 with a native
// run; each guards errors the public suites (docs/COMPATIBILITY.md,
// "Measured against public suites") check only in passing.
func TestSuites10Fixes(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range []string{
		// create_order: mkdir and open(O_CREAT) of a name in a directory
		// the caller may not search are EACCES, existing or not (they
		// were EEXIST and a successful open); O_CREAT of a directory is
		// EISDIR, of "." with O_EXCL EEXIST; before and after the names
		// were stat'ed and listed (path cache, dentries, creation first).
		"create_order",
	} {
		t.Run(name, func(t *testing.T) {
			prog := tu.StaticProgram(t, t.TempDir(), name, testdataSource(t, "suites10", name))
			want := tu.Run(t, timeout, worldWritableDir(t), "", prog)
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			compare(t, want, tu.Sandbox(t, timeout, worldWritableDir(t), "", nil, prog))
		})
	}
}
