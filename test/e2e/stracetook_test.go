package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// straceWaited matches a call do --strace says waited for the server:
// the call, how long it waited and the seq of the server's line.
var straceWaited = regexp.MustCompile(`do\.client: (\w+)\(.*where=forwarded waited=(\S+) seq=(\d+)`)

// TestStraceTook runs busybox stat under do --strace against a server
// started with --strace and pairs each waited call of the client's trace
// with the server's line of the same seq: the same system call, run
// waited (posted=false), with a took= no longer than what the client
// waited. The pairing is what tells a slow call's hop and queue (waited
// less took) from the server's own work (docs/BENCHMARKS.md, "waitgap").
func TestStraceTook(t *testing.T) {
	tu.RequireRoot(t)
	sock, logs, dir := t.TempDir(), t.TempDir(), t.TempDir()
	serverLog, doLog := filepath.Join(logs, "server.log"), filepath.Join(logs, "do.log")
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--strace", "--debug-log", serverLog)
	r := tu.Run(t, time.Minute, dir, "", tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target,
		"--cwd", dir, "--strace", "--debug-log", doLog, "--", tu.Busybox, "stat", "/usr/bin", "/etc/no-such-file")
	if r.ExitCode != 1 {
		t.Fatalf("busybox stat of a missing file: exit %d, want 1\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	clog, err := os.ReadFile(doLog)
	if err != nil {
		t.Fatal(err)
	}
	s.Kill()
	slog, err := os.ReadFile(serverLog)
	if err != nil {
		t.Fatal(err)
	}
	waited := straceWaited.FindAllSubmatch(clog, -1)
	if len(waited) == 0 {
		t.Fatalf("no waited call with a seq in the client's trace:\n%s", clog)
	}
	for _, m := range waited {
		name, seq := string(m[1]), string(m[3])
		w, err := time.ParseDuration(strings.Trim(string(m[2]), `"`))
		if err != nil {
			t.Fatalf("%s's waited=%s: %v", name, m[2], err)
		}
		line := regexp.MustCompile(`strace: .*seq=` + seq + ` call="(\w+)\(.* posted=(\w+) took=(\S+)`).FindSubmatch(slog)
		if line == nil {
			t.Errorf("%s (seq %s): no server line of that seq", name, seq)
			continue
		}
		took, err := time.ParseDuration(strings.Trim(string(line[3]), `"`))
		if err != nil {
			t.Fatalf("server's took=%s: %v", line[3], err)
		}
		if string(line[1]) != name || string(line[2]) != "false" || took > w {
			t.Errorf("%s (seq %s) waited %v: the server's line says %s posted=%s took=%v, want %s posted=false took at most what was waited",
				name, seq, w, line[1], line[2], took, name)
		}
	}
	t.Logf("%d waited calls paired with the server's lines", len(waited))
}
