package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// redirectCreate matches a shell's creating open of fN or w/fN
// (O_WRONLY|O_CREAT|O_TRUNC) in the client's strace and where it was
// answered.
var redirectCreate = regexp.MustCompile(`openat\(AT_FDCWD, "(?:w/)?f\d+", 0x241, 0x1b6\) = \d+ .*where=(\w+)`)

// TestCompleteNamesRedirectCreates runs a shell that makes a directory
// in its working directory (mkdir w: the creation's directory is ".",
// sysabi.ParentPath) and redirects echo into 30 new files in it, as
// w/fN, or as fN after cd w (the chdir's reply names the new working
// directory's inode, Reply.cwd_ino, and the client keeps the copy for
// it too: keepCwdCopy): with the copy of w's complete names, each
// creation is posted without an unlink before it (keepCopyAbsence), and
// the files must hold what was written.
func TestCompleteNamesRedirectCreates(t *testing.T) {
	tu.RequireRoot(t)
	const files = 30
	for _, tc := range []struct{ name, cd, prefix string }{
		{"dir/name", "", "w/"},
		{"cd dir", "cd w && ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			script := fmt.Sprintf(`mkdir w && %si=0; while [ $i -lt %d ]; do echo $i > %sf$i; i=$((i+1)); done; cat %sf* | wc -l`,
				tc.cd, files, tc.prefix, tc.prefix)
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
			// The copy's lease lasts 1 s: a loaded machine may outlast
			// it (at load 15, 27 of 100 creations came within it).
			if where["posted"] < files/3 {
				t.Errorf("creations %v, want at least %d posted", where, files/3)
			}
		})
	}
}
