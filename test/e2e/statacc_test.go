package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestAccessAfterStat checks access calls answered from the kept answer
// of a stat of the same path (sentry/client/postunlink.go: access follows
// the last name as stat does): make stats each program it runs, then
// asks access(X_OK) of it. testdata/pathlease/statacc.c stats regular
// files of several modes, symbolic links to them and directories in a
// directory too big to be listed with a lookup, then asks R_OK, X_OK,
// F_OK and W_OK of each: every answer as native, and per path 2 waited
// calls (the stat and the W_OK, which needs the mount's writability a
// listing would bring) where the four access calls of a path waited
// before.
func TestAccessAfterStat(t *testing.T) {
	tu.RequireRoot(t)
	prog := pathLeaseProgram(t, "statacc")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	// Over 256 names: a stat's reply brings no listing of the
	// directory, whose lstat answers would answer the access calls.
	const paths = 330
	modes := []os.FileMode{0o644, 0o755, 0o600, 0, 0o711, 0o4755}
	for i := 0; i < paths; i++ {
		f := filepath.Join(data, fmt.Sprintf("f%03d", i))
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, modes[i%len(modes)]); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(fmt.Sprintf("f%03d", i-i%3), filepath.Join(data, fmt.Sprintf("l%03d", i))); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			if err := os.Mkdir(filepath.Join(data, fmt.Sprintf("d%03d", i)), os.FileMode(0o700+i%2*0o55)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var waited [2]int
	counts := []int{30, paths}
	for i, n := range counts {
		argv := []string{prog, data, strconv.Itoa(n)}
		want := tu.Run(t, timeout, dir, "", argv...)
		if want.ExitCode != 0 {
			t.Fatalf("natively: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
		}
		waited[i], _ = pathCounts(t, dir, nil, want, argv...)
	}
	perPath := float64(waited[1]-waited[0]) / float64(counts[1]-counts[0])
	t.Logf("waited calls: %d for %d paths, %d for %d (%.2f a path)", waited[0], counts[0], waited[1], counts[1], perPath)
	if perPath > 2.2 {
		t.Errorf("waited calls per stat and 4 access calls: %.2f, want 2 (the stat, the W_OK access): access was not answered from the stat's answer", perPath)
	}
}
