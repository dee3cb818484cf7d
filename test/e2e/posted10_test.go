package e2e

import (
	"os"
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// posted10Program compiles testdata/posted10/name.c.
func posted10Program(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "posted10", name+".c"))
	if err != nil {
		t.Fatal(err)
	}
	return tu.StaticProgram(t, t.TempDir(), name, string(src))
}

// TestPathAtPageEnd runs testdata/posted10/pathpage.c natively and under
// do: paths the client reads from application memory in chunks
// (appMemory.ReadString) must be found whole when they end just before
// an unmapped page, cross a page or are PATH_MAX long, and fail EFAULT
// when they run into the unmapped page, as on Linux.
func TestPathAtPageEnd(t *testing.T) {
	tu.RequireRoot(t)
	prog := posted10Program(t, "pathpage")
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	dir := t.TempDir()
	got := tu.Sandbox(t, timeout, dir, "", []string{"--cwd", dir}, prog)
	compare(t, want, got)
}
