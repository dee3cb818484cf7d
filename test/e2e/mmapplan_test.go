package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestMmapPlanCoherence runs testdata/readcache/mmapplan.c natively and
// under do: private mappings of a file the program reads, made again and
// again while it is changed through another description, by a child, by
// truncation to a larger and a smaller size, beside a written
// copy-on-write page, and by a child, must show what Linux shows. Under
// do the mappings after the first of each lease come from the plan kept
// on it (sentry/client/mmapreuse.go): at least four must.
func TestMmapPlanCoherence(t *testing.T) {
	tu.RequireRoot(t)
	prog := readCacheProgram(t, "mmapplan")
	withData := func(t *testing.T) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "data"), []byte(strings.Repeat("a", 8192)), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	want := tu.Run(t, timeout, withData(t), "", prog)
	if want.ExitCode != 0 || !strings.HasSuffix(want.Stdout, "done\n") {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	_, log := sandboxLogged(t, withData(t), nil, &want, prog)
	if reused := logInts(t, log, mmapsReused)[0]; reused < 4 {
		t.Errorf("%d private mmaps mapped from a kept plan, want at least 4: the test tested little", reused)
	}
}
