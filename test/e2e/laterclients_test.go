package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// goferOp matches a gofer call in the gofer's debug log ("gofer.gofer:
// walk: ..."), its name.
var goferOp = regexp.MustCompile(`gofer\.gofer: ([a-z-]+):`)

// goferOps counts the gofer calls by name in log from offset on.
func goferOps(t *testing.T, log string, offset int64) (map[string]int, int64) {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, m := range goferOp.FindAllSubmatch(b[offset:], -1) {
		n[string(m[1])]++
	}
	return n, int64(len(b))
}

// TestLaterClientsCostTheSame runs a file workload as the first client
// of a server, then, after another client removed a file, as a later
// client, and compares the gofer calls of the two runs: what one client
// leaves in a shared server (its removals, caches, leases, handles) must
// not make the same work dearer for the next. The dentries a listing or a
// creation made were once trusted only until any other client's first
// removal, so every later client walked each name again: a later rm -r
// made a Walk per entry, and the benchmark rows after the first removal
// ran on such a server.
func TestLaterClientsCostTheSame(t *testing.T) {
	tu.RequireRoot(t)
	const files = 200
	archive := tarTree(t, files, 10)
	tests := []struct {
		name string
		// prepare makes what the run works on in dir (natively).
		prepare func(t *testing.T, dir string)
		argv    []string
	}{
		{name: "rm -r", argv: []string{tu.Busybox, "rm", "-r", "top"}, prepare: func(t *testing.T, dir string) {
			if r := tu.Run(t, time.Minute, dir, "", tu.Busybox, "tar", "-xf", archive); r.ExitCode != 0 {
				t.Fatalf("tar -x natively: exit %d\n%s", r.ExitCode, r.Stderr)
			}
		}},
		{name: "find -size", argv: []string{tu.Busybox, "find", "top", "-type", "f", "-size", "+0"}, prepare: func(t *testing.T, dir string) {
			if r := tu.Run(t, time.Minute, dir, "", tu.Busybox, "tar", "-xf", archive); r.ExitCode != 0 {
				t.Fatalf("tar -x natively: exit %d\n%s", r.ExitCode, r.Stderr)
			}
		}},
		{name: "tar -x then ls -lR", argv: []string{tu.Busybox, "sh", "-c", "tar -xf " + archive + " && ls -lnR top >/dev/null"}},
		// GNU cp: an lstat, open and fstat of each source name, the
		// copy's creation and fstat.
		{name: "cp -r", argv: []string{"/usr/bin/cp", "-r", "top", "copy"}, prepare: func(t *testing.T, dir string) {
			if r := tu.Run(t, time.Minute, dir, "", tu.Busybox, "tar", "-xf", archive); r.ExitCode != 0 {
				t.Fatalf("tar -x natively: exit %d\n%s", r.ExitCode, r.Stderr)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock, logs := t.TempDir(), t.TempDir()
			goferLog := filepath.Join(logs, "gofer.log")
			g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/", "--debug-log", goferLog)
			s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target)
			run := func(dir string, argv ...string) {
				t.Helper()
				r := tu.Run(t, 3*time.Minute, dir, "", append([]string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir, "--"}, argv...)...)
				if r.ExitCode != 0 {
					t.Fatalf("%v: exit %d\n%s%s", argv, r.ExitCode, r.Stdout, r.Stderr)
				}
			}
			var counts [2]map[string]int
			var offset int64
			for i := range counts {
				dir := t.TempDir()
				if tc.prepare != nil {
					tc.prepare(t, dir)
				}
				if i == 1 {
					// Another client's removal, of a file of its own.
					if err := os.WriteFile(filepath.Join(dir, "other"), nil, 0o644); err != nil {
						t.Fatal(err)
					}
					run(dir, tu.Busybox, "rm", "other")
				}
				_, offset = goferOps(t, goferLog, 0)
				run(dir, tc.argv...)
				// The gofer logs a call as it answers it; the client's
				// last posted calls may still be on their way.
				time.Sleep(200 * time.Millisecond)
				counts[i], _ = goferOps(t, goferLog, offset)
			}
			t.Logf("gofer calls, first client: %v; later client: %v", counts[0], counts[1])
			for _, op := range []string{"walk", "walk-open", "getdents", "stat", "open"} {
				first, later := counts[0][op], counts[1][op]
				// A little slack for what timing decides (a lease or an
				// attribute renewed on a loaded machine).
				if limit := first + first/10 + 5; later > limit {
					t.Errorf("%s: %d gofer %s calls as a later client, %d as the first (at most %d): %s",
						tc.name, later, op, first, limit, fmt.Sprint(counts[1]))
				}
			}
		})
	}
}
