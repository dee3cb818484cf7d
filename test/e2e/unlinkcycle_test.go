package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPostedUnlinksWaitingForEachOther runs testdata/revoke/unlinkcycle.c
// as two parties, a and b, in two sandboxes on one server (one gofer),
// and as two host processes: each round, each lists the other's
// directory and lstats its files (leases on them), then unlinks its own
// files, posted. A posted unlink of a's waits for b's acknowledgment of
// the revocation of its leases, which counts only after the unlinks b
// posted before it, which wait for a's: the server's cycle breaker
// (readlease's breaksCycle) lets the older client's change go on. The
// leases last a minute: without the breaker a round waits for their
// expiry, past the test's time limit, and the server logs that a client
// did not acknowledge a revocation, which fails the test too. Both must
// say what they say natively.
func TestPostedUnlinksWaitingForEachOther(t *testing.T) {
	tu.RequireRoot(t)
	prog := revokeProgram(t, "unlinkcycle")
	const rounds, files = "40", "6"
	run := func(t *testing.T, limit time.Duration, argv func(me, other, dir string) []string) (string, string) {
		dir := t.TempDir()
		for _, sub := range []string{"a", "b", "sync"} {
			if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		r, out, err := tu.RunBeside(t, limit, dir, argv("a", "b", dir), argv("b", "a", dir))
		if err != nil {
			t.Fatalf("a: %v\n%s", err, out)
		}
		if r.ExitCode != 0 {
			t.Fatalf("b: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
		}
		return out, r.Stdout
	}
	party := func(me, other, dir string) []string { return []string{prog, dir, me, other, rounds, files} }
	nativeA, nativeB := run(t, time.Minute, party)
	sock, logs := t.TempDir(), t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s",
		"--debug-log", filepath.Join(logs, "server.log"))
	bin := tu.Binary(t)
	start := time.Now()
	// 40 s: a round that waited for the leases' expiry (a minute) fails.
	a, b := run(t, 40*time.Second, func(me, other, dir string) []string {
		return append([]string{bin, "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir,
			"--debug-log", filepath.Join(logs, me+".log"), "--"}, party(me, other, dir)...)
	})
	t.Logf("in two sandboxes: %s rounds of %s unlinks each in %v", rounds, files, time.Since(start))
	if a != nativeA || b != nativeB {
		t.Errorf("the parties in sandboxes said %q and %q, natively %q and %q", a, b, nativeA, nativeB)
	}
	checkAllAcknowledged(t, filepath.Join(logs, "server.log"))
	n, _ := strconv.Atoi(rounds)
	for _, name := range []string{"a", "b"} {
		log, err := os.ReadFile(filepath.Join(logs, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		posted := logInts(t, log, postedUnlinks)[0]
		t.Logf("%s posted %d unlinks", name, posted)
		// Nearly all unlinks are posted (234-240 of 240 here);
		// fewer than one a round and the changes rarely wait
		// behind each other: the test would test little.
		if posted < n {
			t.Errorf("%s posted %d unlinks in %d rounds: the test tested little", name, posted, n)
		}
	}
}
