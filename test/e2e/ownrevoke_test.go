package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// counterField is one name=number field of the client's end-of-run
// "forwarded calls" line.
var counterField = regexp.MustCompile(`(\w+)=(\d+)`)

// forwardedCounters runs argv under do in dir and returns the counters
// of the client's "forwarded calls" line by name.
func forwardedCounters(t *testing.T, dir string, argv ...string) map[string]int {
	t.Helper()
	return forwardedCountersWith(t, dir, nil, argv...)
}

// forwardedCountersWith is forwardedCounters with more do flags.
func forwardedCountersWith(t *testing.T, dir string, flags []string, argv ...string) map[string]int {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "do.log")
	r := tu.Sandbox(t, 3*time.Minute, dir, "", append([]string{"--cwd", dir, "--debug-log", logFile}, flags...), argv...)
	if r.ExitCode != 0 {
		t.Fatalf("%v: exit %d\n%s%s", argv, r.ExitCode, r.Stdout, r.Stderr)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`forwarded calls: .*`).Find(log)
	if line == nil {
		t.Fatalf("no call counts in the client's log:\n%s", log)
	}
	counts := make(map[string]int)
	for _, m := range counterField.FindAllSubmatch(line, -1) {
		counts[string(m[1])], _ = strconv.Atoi(string(m[2]))
	}
	return counts
}

// TestOwnRevocationsPerFile counts, per file (a run on many files less
// one on few), what the revocations of a sandbox's own changes cost:
// each file tar extracts revokes the lease on its directory's attributes
// that the last creation's reply brought, and rm revokes the leases cat
// took on the files it removes. They come in the replies of the calls
// that made the changes, unacknowledged (docs/ARCHITECTURE.md, "The
// client's read cache"): no push, no acknowledgment, no goroutine a file
// (before: one of each). rm's come in fewer messages than files: a run
// of its posted unlinks (the server's unlinkrun) revokes them together,
// in the first of the run's replies.
func TestOwnRevocationsPerFile(t *testing.T) {
	tu.RequireRoot(t)
	const few, many = 10, 60
	tests := []struct {
		name string
		run  func(t *testing.T, dir string, n int) map[string]int
		// minRevokedIDs is the fewest lease ids a file's changes revoke:
		// the test counts what their revocations cost.
		minRevokedIDs float64
	}{
		{"busybox tar -xf", func(t *testing.T, dir string, n int) map[string]int {
			return forwardedCounters(t, dir, tu.Busybox, "tar", "-xf", tarOf(t, n))
		}, 0.9},
		{"files500 (the benchmark's)", func(t *testing.T, dir string, n int) map[string]int {
			return forwardedCounters(t, dir, tu.Busybox, "sh", "-c",
				fmt.Sprintf(`mkdir w && cd w && i=0; while [ $i -lt %d ]; do echo $i > f$i; i=$((i+1)); done; cat f* | wc -l; cd .. && rm -r w`, n))
		}, 0.9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c1, c2 := tc.run(t, t.TempDir(), few), tc.run(t, t.TempDir(), many)
			per := func(name string) float64 { return float64(c2[name]-c1[name]) / (many - few) }
			revokes, inReplies, acks := per("lease_revokes"), per("lease_revokes_in_replies"), per("lease_acks")
			goroutines, ids := per("goroutines_started"), per("lease_ids_revoked")
			t.Logf("per file: %.2f revocations of %.2f lease ids, %.2f of them in replies, %.2f acknowledged, %.2f goroutines started, %.2f socket messages sent",
				revokes, ids, inReplies, acks, goroutines, per("socket_sent"))
			if ids < tc.minRevokedIDs {
				t.Fatalf("%.2f lease ids revoked a file, want at least %v: the test tests nothing", ids, tc.minRevokedIDs)
			}
			// Slack for a heartbeat's answer that found revocations
			// queued and sent them in a push before it.
			if pushed := revokes - inReplies; pushed > 0.1 {
				t.Errorf("%.2f revocations a file came in pushes, want at most 0.1", pushed)
			}
			if acks > 0.02 {
				t.Errorf("%.2f revocations a file acknowledged, want none", acks)
			}
			if goroutines > 0.2 {
				t.Errorf("%.2f goroutines started a file, want at most 0.2", goroutines)
			}
		})
	}
}
