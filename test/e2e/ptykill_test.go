package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPtyServerKill runs testdata/pty/ptykill.c natively and in a
// sandbox whose server is killed -9 while the program holds a pty pair
// made in the sandbox (raw mode, a window size, a child that made the
// slave its controlling terminal, blocked reading it, output queued for
// the master): the restored server rebuilds the terminal from the
// replay log and the program goes on with the same output.
func TestPtyServerKill(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "pty", "ptykill.c"))
	want, got, _ := killAtPhase1(t, prog)
	if !strings.Contains(want.Stdout, "? -> sid=me fg=me winch=1") {
		t.Fatalf("native run:\n%s%s", want.Stdout, want.Stderr)
	}
	compare(t, want, got)
	t.Logf("native and sandboxed output:\n%s", want.Stdout)
}
