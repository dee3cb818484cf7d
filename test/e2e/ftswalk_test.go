package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// An fts walk's calls in the client's strace, with where each was
// answered: the open of a subdirectory by name relative to its parent's
// fd, the open of ".." relative to a directory's fd, a listing that
// returned entries, and fcntl F_GETFL.
var (
	ftsDirOpen   = regexp.MustCompile(`openat\(0x[0-9a-f]+, "[^"./][^"]*", 0x[0-9a-f]+, 0x0\) = \d+ .*where=(\w+)`)
	ftsParent    = regexp.MustCompile(`openat\(0x[0-9a-f]+, "\.\.", 0x[0-9a-f]+, 0x0\) = \d+ .*where=(\w+)`)
	ftsListing   = regexp.MustCompile(`getdents64\(0x[0-9a-f]+, 0x[0-9a-f]+, 0x[0-9a-f]+\) = [1-9]\d* .*where=(\w+)`)
	ftsStatusGet = regexp.MustCompile(`fcntl\(0x[0-9a-f]+, 0x3, [^)]*\) = \d+ .*where=(\w+)`)
)

// TestFtsWalkOnClient runs GNU find over a tree of 165 directories
// (nested 5 deep, deeper than fts keeps parents' fds for, so it climbs
// out by opening "..") natively and under do, its output through a pipe.
// fts opens each subdirectory relative to its parent's fd: the client
// derives its path from the parent's (sentry/client/dirfdpaths.go), so
// the open is posted from the parent's listing and its getdents64
// answered from a listing ahead; glibc's fdopendir's F_GETFL is
// answered from the description's flags (fdflags.go); the opens of ".."
// wait, but their path is derived too, so the walk below them goes on
// without waits. Before, each directory waited for its open, its
// F_GETFL and its listing (165 each). The output must be the native one.
func TestFtsWalkOnClient(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	dirs := 1
	for a := 0; a < 4; a++ {
		dirs++
		for c := 0; c < 10; c++ {
			leaf := filepath.Join(dir, "t", fmt.Sprintf("a%d", a), fmt.Sprintf("c%d", c), "d1", "d2", "d3")
			if err := os.MkdirAll(leaf, 0o755); err != nil {
				t.Fatal(err)
			}
			dirs += 4
			for _, d := range []string{leaf, filepath.Dir(leaf), filepath.Dir(filepath.Dir(filepath.Dir(leaf)))} {
				for j := 0; j < 2; j++ {
					name := filepath.Join(d, fmt.Sprintf("f%d", j))
					if err := os.WriteFile(name, []byte(strings.Repeat("x", j)), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	script := `/usr/bin/find t -type f -size +0 | sort | md5sum`
	want := tu.Run(t, time.Minute, dir, "", tu.Busybox, "sh", "-c", script)
	_, log := sandboxLogged(t, dir, []string{"--force-overlay=false", "--strace"}, &want, tu.Busybox, "sh", "-c", script)
	opens, parents := whereCounts(ftsDirOpen, log), whereCounts(ftsParent, log)
	listings, getfl := whereCounts(ftsListing, log), whereCounts(ftsStatusGet, log)
	t.Logf("subdirectory opens %v, opens of .. %v, listings %v, F_GETFL %v", opens, parents, listings, getfl)
	sub := dirs - 1 // "t" is opened by path
	if n := opens["posted"] + opens["forwarded"]; n != sub || opens["forwarded"] > sub/10 {
		t.Errorf("subdirectory opens %v, want %d, at most %d waited", opens, sub, sub/10)
	}
	if parents["forwarded"] == 0 {
		t.Errorf("no open of .. (%v): the tree is not deep enough to test them", parents)
	}
	if n := listings["cached"] + listings["forwarded"]; n < dirs || listings["forwarded"] > dirs/10 {
		t.Errorf("listings %v, want at least %d, at most %d waited", listings, dirs, dirs/10)
	}
	if getfl["forwarded"] > 0 || getfl["cached"] < dirs {
		t.Errorf("F_GETFL %v, want at least %d, all answered on the client", getfl, dirs)
	}
}
