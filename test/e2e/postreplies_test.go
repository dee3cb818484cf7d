package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// receivedCounts matches, in the line the client logs at its end, the
// posted calls and what the server's socket messages carried: all of
// them, those that carried posted calls' replies and nothing else the
// client needed, and the pushes (transport.ReceivedCounts).
var receivedCounts = regexp.MustCompile(`posted=(\d+) .*socket_received=(\d+) received_posted_only=(\d+) posted_replies_received=\d+ heartbeats_received=\d+ pushes_received=(\d+)`)

// TestPostedRepliesPerFile counts the server's socket messages to the
// client a busybox tar -xf of 400 small files costs, per file and per
// posted call, with the replies of posted calls nothing waits for
// lingering (the default, do --posted-reply-linger) and without. A
// member costs ~7 posted calls sent in two or three batches: its
// creation (whose reply the client waits for: the directory's stat
// answer it renews) and the rest (a leased copy, a close, chown, chmod,
// utimensat, the archive's lseeks), whose replies nothing waits for; the
// opens, reads and closes of /etc/passwd and /etc/group are taken back
// unsent. Without the linger each
// batch's end sends its replies in a message of their own (2.4-2.6 a
// file); with it, the rest ride in the next creation's reply (or the
// lease revocation sent before it), about one a file, and a linger that
// runs out (a member that takes longer than the linger on a loaded
// machine) costs one more.
func TestPostedRepliesPerFile(t *testing.T) {
	tu.RequireRoot(t)
	const files = 400
	archive := tarOf(t, files)
	type counts struct{ posted, received, postedOnly, pushes int }
	run := func(flags ...string) counts {
		dir, logFile := t.TempDir(), filepath.Join(t.TempDir(), "do.log")
		r := tu.Sandbox(t, 3*time.Minute, dir, "", append([]string{"--cwd", dir, "--debug-log", logFile}, flags...), tu.Busybox, "tar", "-xf", archive)
		if r.ExitCode != 0 {
			t.Fatalf("tar -xf %v: exit %d\n%s%s", flags, r.ExitCode, r.Stdout, r.Stderr)
		}
		checkTarExtracted(t, dir, files)
		log, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		n := logInts(t, log, receivedCounts)
		c := counts{posted: n[0], received: n[1], postedOnly: n[2], pushes: n[3]}
		t.Logf("%v: %.2f server messages a file (%.3f a posted call), %.2f of them posted replies alone, %.2f pushes",
			flags, float64(c.received)/files, float64(c.received)/float64(c.posted), float64(c.postedOnly)/files, float64(c.pushes)/files)
		return c
	}
	without := run("--posted-reply-linger=0")
	with := run()
	if with.posted < 5*files {
		t.Fatalf("%d posted calls for %d files, want at least 5 a file (the test no longer counts what it says)", with.posted, files)
	}
	if perFile := float64(with.postedOnly) / files; perFile > 1.5 {
		t.Errorf("with the linger, %.2f messages a file carried posted replies alone, want at most 1.5 (the creation's reply)", perFile)
	}
	if saved := float64(without.postedOnly-with.postedOnly) / files; saved < 0.6 {
		t.Errorf("the linger saved %.2f messages of posted replies a file (%d -> %d), want at least 0.6 (the batch after the creation; 0.84 at load 10)",
			saved, without.postedOnly, with.postedOnly)
	}
}
