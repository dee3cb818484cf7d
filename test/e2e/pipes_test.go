package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPipeSizeSplice compares testdata/pipes/pipesize.c (splice from a
// pipe and from a file, tee and write into pipes whose F_SETPIPE_SZ
// size is smaller and larger than the default 64 KiB) with a native run:
// each fills the pipe up to its own size.
func TestPipeSizeSplice(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "pipes", []string{"pipesize"})
}
