package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// redirectCreate matches a shell's creating open of w/fN (O_WRONLY|O_CREAT|
// O_TRUNC) in the client's strace and where it was answered.
var redirectCreate = regexp.MustCompile(`openat\(AT_FDCWD, "w/f\d+", 0x241, 0x1b6\) = \d+ .*where=(\w+)`)

// TestCompleteNamesRedirectCreates runs a shell that makes a directory
// in its working directory (mkdir w: the creation's directory is ".",
// sysabi.ParentPath) and redirects echo into 100 new files in it: with
// the copy of w's complete names, each creation is posted without an
// unlink before it (keepCopyAbsence), and the files must hold what was
// written.
func TestCompleteNamesRedirectCreates(t *testing.T) {
	tu.RequireRoot(t)
	const files = 100
	dir := t.TempDir()
	script := fmt.Sprintf(`mkdir w && i=0; while [ $i -lt %d ]; do echo $i > w/f$i; i=$((i+1)); done; cat w/f* | wc -l`, files)
	r, log := sandboxLogged(t, dir, []string{"--strace"}, nil, tu.Busybox, "sh", "-c", script)
	if want := fmt.Sprintf("%d\n", files); r.Stdout != want {
		t.Errorf("stdout %q, want %q", r.Stdout, want)
	}
	for i := 0; i < files; i++ {
		if got, err := os.ReadFile(filepath.Join(dir, "w", fmt.Sprintf("f%d", i))); err != nil || string(got) != fmt.Sprintf("%d\n", i) {
			t.Fatalf("w/f%d: %q, %v", i, got, err)
		}
	}
	where := whereCounts(redirectCreate, log)
	t.Logf("creations: %v", where)
	// The copy's lease lasts 1 s: a loaded machine may outlast it.
	if where["posted"] < files/2 {
		t.Errorf("creations %v, want at least %d posted", where, files/2)
	}
}
