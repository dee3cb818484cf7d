package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// pathHits matches how many calls the client's path cache answered (the
// end-of-session line of sentry/client).
var pathHits = regexp.MustCompile(`path_cache_hits=(\d+)`)

// pathLeaseProgram compiles testdata/pathlease/name.c.
func pathLeaseProgram(t *testing.T, name string) string {
	t.Helper()
	return tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "pathlease", name+".c"))
}

// pathCounts runs argv under do with flags in dir, checks its output
// against want, and returns the client's waited-for calls and path cache
// hits.
func pathCounts(t *testing.T, dir string, flags []string, want tu.Result, argv ...string) (waited, hits int) {
	t.Helper()
	_, log := sandboxLogged(t, dir, flags, &want, argv...)
	return logInts(t, log, callCounts)[0], logInts(t, log, pathHits)[0]
}

// TestPathCacheRoundTrips counts the waited-for round trips of what find
// and make ask about paths (testdata/pathlease/walk.c: 200 files asked
// about in rounds), with the path cache and without: per round, the
// difference between a run of few rounds and one of more. With the
// cache, a round asks the server nothing: the first round's answers hold
// while no name or attribute changes.
func TestPathCacheRoundTrips(t *testing.T) {
	tu.RequireRoot(t)
	prog := pathLeaseProgram(t, "walk")
	const files, few, many = 200, 2, 6
	tests := []struct {
		name  string
		flags []string
		mode  string
		// minWaited and maxWaited bound the waited-for round trips of
		// one round.
		minWaited, maxWaited float64
		cached               bool
	}{
		// 200 lstat and 67 readlink a round.
		{name: "find, without the cache", mode: "find", flags: []string{"--read-cache=false"}, minWaited: 267, maxWaited: 267},
		{name: "find, with the cache", mode: "find", minWaited: 0, maxWaited: 267 / 10, cached: true},
		// 400 newfstatat (half of them ENOENT) and 200 access a round.
		{name: "make, without the cache", mode: "make", flags: []string{"--read-cache=false"}, minWaited: 600, maxWaited: 600},
		{name: "make, with the cache", mode: "make", minWaited: 0, maxWaited: 600 / 10, cached: true},
		// 200 statx relative to a directory's fd.
		{name: "statx at dirfd, with the cache", mode: "statx", minWaited: 0, maxWaited: 200 / 10, cached: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var waited, hits [2]int
			for i, rounds := range []int{few, many} {
				argv := []string{prog, tc.mode, strconv.Itoa(files), strconv.Itoa(rounds)}
				want := tu.Run(t, time.Minute, t.TempDir(), "", argv...)
				if want.ExitCode != 0 {
					t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
				}
				waited[i], hits[i] = pathCounts(t, t.TempDir(), tc.flags, want, argv...)
			}
			perRound := float64(waited[1]-waited[0]) / (many - few)
			hitsPerRound := float64(hits[1]-hits[0]) / (many - few)
			t.Logf("per round: %.2f waited-for round trips, %.2f calls answered from the path cache", perRound, hitsPerRound)
			// A call and a half per round of slack: the runs' start-up
			// and exit differ by a few calls now and then (a post that
			// waits, a signal).
			if perRound < tc.minWaited-1.5 || perRound > tc.maxWaited+1.5 {
				t.Errorf("a round costs %.2f waited-for round trips, want %v to %v", perRound, tc.minWaited, tc.maxWaited)
			}
			if tc.cached != (hitsPerRound > 0) {
				t.Errorf("%.2f calls per round answered from the path cache", hitsPerRound)
			}
		})
	}
}

// TestPathCacheTwoSandboxes runs testdata/pathlease/twoviews.c as a
// changer and an observer in two sandboxes on one server (one gofer), and
// as two host processes: after each change the changer makes (chmod,
// rename, creation, unlink, a symlink pointed elsewhere, a write, mkdir,
// rmdir, link), the observer's very next lstat, stat, access and readlink
// of the paths involved must say what they say natively, although it
// asked the same before the change (answers its path cache keeps). The
// server's leases last a minute, so a change the server did not revoke
// would show as the old answer.
func TestPathCacheTwoSandboxes(t *testing.T) {
	tu.RequireRoot(t)
	prog := pathLeaseProgram(t, "twoviews")
	_, _, logs := observerChangerRuns(t, prog, 11, func(t *testing.T, dir string) {
		for _, f := range []string{"flag", "ack"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("0000"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(dir, "w"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "w", "f"), []byte("contents"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("f", filepath.Join(dir, "w", "l")); err != nil {
			t.Fatal(err)
		}
	})
	log, err := os.ReadFile(filepath.Join(logs, "observer.log"))
	if err != nil {
		t.Fatal(err)
	}
	if m := pathHits.FindSubmatch(log); m == nil || string(m[1]) == "0" {
		t.Errorf("the observer's path cache answered nothing (%s): the test tested nothing", m)
	}
}

// lineDiff lists the lines of a and b that differ, by position.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "- %s\n+ %s\n", x, y)
		}
	}
	return out.String()
}

// TestPathCacheOneSandbox runs testdata/pathlease/oneview.c natively and
// under do: the same path asked about before and after a chdir, a chmod
// of its parent directory, a change of effective uid, a write and a chmod
// of the file, another thread's chdir and a child's rename must get the
// native answer each time, with the path cache answering the repeated
// questions.
func TestPathCacheOneSandbox(t *testing.T) {
	tu.RequireRoot(t)
	prog := pathLeaseProgram(t, "oneview")
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	if _, hits := pathCounts(t, t.TempDir(), nil, want, prog); hits == 0 {
		t.Error("no call was answered from the path cache: the test tested nothing")
	}
}

// TestPathCacheFind counts the waited-for round trips per file of
// busybox find over a tree (10 directories), with the path cache and
// without: the difference between a tree of few files and one of more.
// find lstats each entry of each directory it lists once; with the
// cache, the listing's reply brings those answers (Reply.listed) and
// find's lstats are answered on the client. The output must be the
// native one (names and sizes, ls -ln of the tree too).
func TestPathCacheFind(t *testing.T) {
	tu.RequireRoot(t)
	const few, many = 50, 250
	script := `find t -type f -size +0 | sort | md5sum; ls -lnR t | md5sum`
	tree := func(t *testing.T, n int) string {
		dir := t.TempDir()
		for i := 0; i < n; i++ {
			sub := filepath.Join(dir, "t", fmt.Sprintf("d%d", i%10))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", i)), []byte(strings.Repeat("x", i%7)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	tests := []struct {
		name    string
		flags   []string
		maxFile float64
		minFile float64
	}{
		{name: "without the cache", flags: []string{"--read-cache=false"}, minFile: 1.5, maxFile: 4}, // find's lstat, ls's lstat and more
		// Near zero: the difference of two runs' counts, whose fixed
		// part (the shell's and the tools' start, a lease renewed on a
		// loaded machine) varies by a few round trips either way.
		{name: "with the cache", minFile: -0.1, maxFile: 0.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var waited [2]int
			for i, n := range []int{few, many} {
				dir := tree(t, n)
				want := tu.Run(t, time.Minute, dir, "", tu.Busybox, "sh", "-c", script)
				waited[i], _ = pathCounts(t, dir, append([]string{"--force-overlay=false"}, tc.flags...), want, tu.Busybox, "sh", "-c", script)
			}
			perFile := float64(waited[1]-waited[0]) / (many - few)
			t.Logf("per file: %.2f waited-for round trips", perFile)
			if perFile < tc.minFile || perFile > tc.maxFile {
				t.Errorf("a file costs %.2f waited-for round trips, want %v to %v", perFile, tc.minFile, tc.maxFile)
			}
		})
	}
}
