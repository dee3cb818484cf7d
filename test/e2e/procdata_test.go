package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestProcDataRoundTrips counts the waited-for round trips of procread's
// rounds (/proc/self/cgroup, mountinfo and environ each read whole through
// an open, to the end in 37-byte pieces through another, and whole again
// through a third; Go programs read the first two so at their start): per
// round, the difference between a run of few rounds and one of many. With
// the read cache each open's reply brings its file's content
// (sentry/client/procdata.go): the nine opens are all a round waits for,
// with environ's lseek back to its start and the read (which takes the
// content again) and pread after it; without it, every read waits too.
func TestProcDataRoundTrips(t *testing.T) {
	tu.RequireRoot(t)
	prog := chaosProgram(t, "procread")
	const few, many = 10, 50
	tests := []struct {
		name                 string
		flags                []string
		minWaited, maxWaited float64
	}{
		{name: "with the read cache", minWaited: 12, maxWaited: 12},
		{name: "without the read cache", flags: []string{"--read-cache=false"}, minWaited: 30, maxWaited: 120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flags := append([]string{"--force-overlay=false"}, tc.flags...)
			perRound, _ := roundCosts(t, flags, few, many, func(n int) []string { return []string{prog, strconv.Itoa(n)} })
			t.Logf("per round: %.2f waited-for round trips", perRound)
			// A quarter of a call per round of slack, as the read
			// cache's rounds (TestReadCacheRoundTrips).
			if perRound < tc.minWaited-0.25 || perRound > tc.maxWaited+0.25 {
				t.Errorf("a round costs %.2f waited-for round trips, want %v to %v", perRound, tc.minWaited, tc.maxWaited)
			}
		})
	}
}

// TestProcDataServerKill runs procread under do against a server killed
// with kill -9 twice, each time while /proc/self/environ is open after its
// first piece (procread's slow mode sleeps there; the client recovers
// before its last pieces, which go to the new server): the reads the
// client answered from the file's content were posted, so the new
// server's offset is where the application's reads left it, and the
// pieces are the whole file (procread checks; without the posted reads
// they repeat its start); the output is the native one.
func TestProcDataServerKill(t *testing.T) {
	tu.RequireRoot(t)
	const rounds, kills = 8, 2
	marks := func(dir string) int {
		m, _ := filepath.Glob(filepath.Join(dir, "r*"))
		return len(m)
	}
	serverKillRun(t, serverKill{
		prog:     chaosProgram(t, "procread"),
		args:     []string{strconv.Itoa(rounds), "slow"},
		kills:    kills,
		ready:    func(dir string, k int) bool { return marks(dir) >= k*rounds/(kills+1) },
		progress: func(dir string) string { return fmt.Sprintf("%d rounds", marks(dir)) },
	})
}
