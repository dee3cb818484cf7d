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

// The path cache's leases per inode (docs/ARCHITECTURE.md, "The
// client's path cache"): what tar and find no longer wait for, and that
// another sandbox's changes of names are seen at once.

// dirleaseProgram compiles testdata/dirlease/name.c.
func dirleaseProgram(t *testing.T, name string) string {
	t.Helper()
	return tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "dirlease", name+".c"))
}

// stracedPathCall matches a path call in the client's strace: the call,
// its path and where the client answered it (forwarded, cached...).
var stracedPathCall = regexp.MustCompile(`do\.client: (\w+)\((?:AT_FDCWD, |0x[0-9a-f]+, )?"([^"]*)".*where=(\w+)`)

// stracedRun runs argv under do with --strace and flags in dir, checks
// that it exited 0, and returns its output, its client's log and, from
// the strace, how many calls of each name on a path with prefix (or
// relative to a dirfd, when prefix is "") were answered where ("mkdir
// forwarded": n).
func stracedRun(t *testing.T, dir string, flags []string, prefix string, argv ...string) (tu.Result, string, map[string]int) {
	t.Helper()
	r, log := sandboxLogged(t, dir, append([]string{"--strace"}, flags...), nil, argv...)
	counts := map[string]int{}
	for _, m := range stracedPathCall.FindAllStringSubmatch(string(log), -1) {
		if path := m[2]; path != "" && strings.HasPrefix(path, prefix) {
			counts[m[1]+" "+m[3]]++
		}
	}
	return r, string(log), counts
}

// waitedCalls returns the client's count of waited-for calls from its
// log.
func waitedCalls(t *testing.T, log string) int {
	t.Helper()
	return logInts(t, []byte(log), callCounts)[0]
}

// TestDirLeaseTarCalls runs busybox tar -xf of 200 files in two
// directories under do, with the path cache and without, and counts from
// the client's strace the calls it made on the members' paths. For each
// file tar makes each leading directory (mkdir, EEXIST but for the
// first), stats it, unlinks the member's name (ENOENT) and creates it.
// With the cache, the mkdirs are answered on the client from the
// existence of the directory a stat saw (its creation of a file in one
// directory no longer revokes what the client knows of the others, nor
// the existence of the directory itself), and the stat of the directory
// it extracts into from the reply of the previous creation there.
func TestDirLeaseTarCalls(t *testing.T) {
	tu.RequireRoot(t)
	const files = 200
	archive := tarOf(t, files)
	tests := []struct {
		name  string
		flags []string
		// minForwardedMkdir and maxForwardedMkdir bound the forwarded
		// mkdirs per file; minCachedMkdir is the fewest answered on
		// the client, minCachedStat the fewest stats.
		minForwardedMkdir, maxForwardedMkdir, minCachedMkdir, minCachedStat float64
	}{
		{name: "without the cache", flags: []string{"--read-cache=false"}, minForwardedMkdir: 2, maxForwardedMkdir: 2.1},
		{name: "with the cache", maxForwardedMkdir: 0.1, minCachedMkdir: 1.8, minCachedStat: 0.9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, log, counts := stracedRun(t, dir, tc.flags, "top", tu.Busybox, "tar", "-xf", archive)
			got, err := os.ReadFile(filepath.Join(dir, "top", "d1", fmt.Sprintf("f%03d", files-1)))
			if err != nil || string(got) != strings.Repeat("0123456789abcdef", 32) {
				t.Fatalf("the last file extracted: %q, %v", got, err)
			}
			per := func(k string) float64 { return float64(counts[k]) / files }
			t.Logf("per file: mkdir %.2f forwarded, %.2f cached; newfstatat %.2f forwarded, %.2f cached; unlink %.2f forwarded; %.2f waited calls in all",
				per("mkdir forwarded"), per("mkdir cached"), per("newfstatat forwarded"), per("newfstatat cached"),
				per("unlink forwarded"), float64(waitedCalls(t, log))/files)
			if f := per("mkdir forwarded"); f < tc.minForwardedMkdir || f > tc.maxForwardedMkdir || per("mkdir cached") < tc.minCachedMkdir {
				t.Errorf("mkdir: %.2f forwarded, %.2f answered on the client per file; want %v to %v forwarded, at least %v on the client",
					f, per("mkdir cached"), tc.minForwardedMkdir, tc.maxForwardedMkdir, tc.minCachedMkdir)
			}
			// The stat of the directory tar extracts into is answered
			// from what the reply of the previous file's creation
			// brought (Reply.parent_stat); the stat of the first
			// directory too, while the previous file's posted
			// chown, chmod and utimensat are unanswered
			// (TestAttrWaitTarCalls).
			if per("newfstatat cached") < tc.minCachedStat {
				t.Errorf("%.2f stats per file answered on the client, want at least %v", per("newfstatat cached"), tc.minCachedStat)
			}
			if tc.minCachedMkdir == 0 && counts["mkdir cached"] != 0 {
				t.Errorf("%d mkdirs answered on the client without the cache", counts["mkdir cached"])
			}
		})
	}
}

// TestDirLeaseFindAtDirfd runs testdata/dirlease/fts.c (GNU find's walk:
// each directory opened relative to its parent's fd, listed, and each
// entry asked about with fstatat(fd, name, AT_SYMLINK_NOFOLLOW), or with
// statx as coreutils asks) over a tree of 10 directories of 30 files,
// natively and under do, with the path cache and without. With it, each
// listing's reply brings the answers of its entries relative to the fd
// listed, and fts's fstatats and statxs are answered on the client.
func TestDirLeaseFindAtDirfd(t *testing.T) {
	tu.RequireRoot(t)
	prog := dirleaseProgram(t, "fts")
	const dirs, perDir = 10, 30
	dir := t.TempDir()
	for i := 0; i < dirs*perDir; i++ {
		sub := filepath.Join(dir, "t", fmt.Sprintf("d%d", i%dirs))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", i)), []byte(strings.Repeat("x", i%5)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const entries = dirs + dirs*perDir
	tests := []struct {
		name  string
		flags []string
		// call is how fts asks: newfstatat, or statx (its argument).
		call string
		// minCached is the least share of the calls answered on the
		// client.
		minCached float64
	}{
		{name: "without the cache", flags: []string{"--read-cache=false"}, call: "newfstatat"},
		{name: "with the cache", call: "newfstatat", minCached: 0.99},
		{name: "statx, with the cache", call: "statx", minCached: 0.99},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			argv := []string{prog, "t"}
			if tc.call == "statx" {
				argv = append(argv, "statx")
			}
			want := tu.Run(t, time.Minute, dir, "", argv...)
			if want.ExitCode != 0 {
				t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			got, _, counts := stracedRun(t, dir, tc.flags, "", argv...)
			compare(t, want, got)
			// The calls on a name without a slash, relative to a
			// dirfd (fts's openats of the subdirectories are too).
			cached, forwarded := counts[tc.call+" cached"], counts[tc.call+" forwarded"]
			t.Logf("%s of %d entries: %d answered on the client, %d forwarded", tc.call, entries, cached, forwarded)
			if cached+forwarded != entries {
				t.Errorf("counted %d %ss, want %d", cached+forwarded, tc.call, entries)
			}
			if share := float64(cached) / entries; share < tc.minCached || (tc.minCached == 0 && cached != 0) {
				t.Errorf("%.2f of the %ss answered on the client, want at least %v", share, tc.call, tc.minCached)
			}
		})
	}
}

// TestDirLeaseTwoSandboxes runs testdata/dirlease/names.c as a changer
// and an observer in two sandboxes on one server (one gofer), and as two
// host processes: the observer asks about the names of a directory (so
// that its path cache keeps the answers, the existence of the names and
// the entries of its listing), the changer renames, creates, removes a
// name there, and the observer's next mkdir, unlink, stat, lstat and
// fstatat must say what they say natively. The server's leases last a
// minute, so an answer the change did not revoke would show.
func TestDirLeaseTwoSandboxes(t *testing.T) {
	tu.RequireRoot(t)
	prog := dirleaseProgram(t, "names")
	_, _, logs := observerChangerRuns(t, prog, 5, func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, "turn"), []byte("0000"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "w", "d"), 0o755); err != nil {
			t.Fatal(err)
		}
	}, "--strace")
	log, err := os.ReadFile(filepath.Join(logs, "observer.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The test tests something only if the observer's cache answered:
	// the repeated questions before each change, and the mkdir of a
	// name the change left alone (step 4's d).
	cached := map[string]int{}
	for _, m := range stracedPathCall.FindAllStringSubmatch(string(log), -1) {
		if m[3] == "cached" {
			cached[m[1]]++
		}
	}
	if cached["mkdir"] == 0 || cached["newfstatat"] == 0 {
		t.Errorf("the observer's path cache answered %v: the test tested less than it should", cached)
	}
}
