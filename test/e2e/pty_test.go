package e2e

import (
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPty runs testdata/pty/openpt.c (a pseudo-terminal pair from
// /dev/ptmx, its slave under /dev/pts, the line discipline between
// them, and ^C to a foreground group) natively and in the sandbox.
func TestPty(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "pty", "openpt.c"))
	want := tu.Run(t, timeout, dir, "", prog)
	got := tu.Sandbox(t, timeout, dir, "", nil, prog)
	compare(t, want, got)
}
