package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
	src, err := os.ReadFile(filepath.Join("testdata", "pathlease", name+".c"))
	if err != nil {
		t.Fatal(err)
	}
	return tu.StaticProgram(t, t.TempDir(), name, string(src))
}

// pathCounts runs argv under do with flags in dir, checks its output
// against want, and returns the client's waited-for calls and path cache
// hits.
func pathCounts(t *testing.T, dir string, flags []string, want tu.Result, argv ...string) (waited, hits int) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "do.log")
	flags = append([]string{"--cwd", dir, "--debug-log", logFile}, flags...)
	got := tu.Sandbox(t, 3*time.Minute, dir, "", flags, argv...)
	compare(t, want, got)
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	m, h := callCounts.FindSubmatch(log), pathHits.FindSubmatch(log)
	if m == nil || h == nil {
		t.Fatalf("no call counts in the client's log:\n%s", log)
	}
	waited, _ = strconv.Atoi(string(m[1]))
	hits, _ = strconv.Atoi(string(h[1]))
	return waited, hits
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
