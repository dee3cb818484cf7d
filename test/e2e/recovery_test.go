package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// recoveryScript appends numbered lines to two files, then reads one back
// (so the offsets and the retained writes both matter).
const recoveryScript = `i=0
while [ $i -lt 600 ]; do echo "line $i" >> a; echo "other $i" >> b; i=$((i+1)); done
wc -l a b
echo done`

// TestRecoveryServerKill is issue 3's promise at small scale: kill -9 the
// external remote sentry while a busybox job appends to files; the client
// recovers on the same server restarted (or on a second server) and the
// job's output and files are byte-identical to a run with no kill.
func TestRecoveryServerKill(t *testing.T) {
	tu.RequireRoot(t)
	cases := []struct {
		name     string
		kills    int
		failover bool
	}{
		{"restart same server", 3, false},
		{"failover to second server", 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
			want := tu.Run(t, timeout, nativeDir, "", tu.Busybox, "sh", "-c", recoveryScript)

			g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
			a := tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target)
			targets := a.Target
			var b *tu.Daemon
			if tc.failover {
				b = tu.StartDaemon(t, sockDir, "b", "server", "--gofer", g.Target)
				targets += "," + b.Target
			}
			logFile := filepath.Join(sockDir, "client.log")
			done := make(chan tu.Result, 1)
			go func() {
				done <- tu.Sandbox(t, 2*timeout, sandboxDir, "", []string{
					"--server", targets, "--cwd", sandboxDir, "--grace", "1s", "--heartbeat", "50ms",
					"--debug-log", logFile, "--log-dir", filepath.Join(sockDir, "clog"),
				}, tu.Busybox, "sh", "-c", recoveryScript)
			}()
			var got tu.Result
			finished := false
			for k := 0; k < tc.kills && !finished; k++ {
				// Kill once the job has made progress since the last one.
				for !finished && lines(filepath.Join(sandboxDir, "a")) < (k+1)*600/(tc.kills+1) {
					select {
					case got = <-done:
						finished = true
					case <-time.After(5 * time.Millisecond):
					}
				}
				if finished {
					break
				}
				a.Kill()
				t.Logf("kill %d at %d lines", k+1, lines(filepath.Join(sandboxDir, "a")))
				if !tc.failover {
					time.Sleep(100 * time.Millisecond)
					a = tu.StartDaemonAt(t, a.Target, "server", "--gofer", g.Target)
					if a == nil {
						t.Fatal("server did not restart")
					}
				}
			}
			if !finished {
				got = <-done
			}
			log, _ := os.ReadFile(logFile)
			recovered := bytes.Count(log, []byte("recovered from a remote sentry failure"))
			if recovered == 0 {
				t.Errorf("no recovery logged (the job finished before the first kill?)")
			}
			compare(t, want, got)
			compareTrees(t, nativeDir, sandboxDir)
			for _, l := range strings.Split(string(log), "\n") {
				if strings.Contains(l, "recovered from") || strings.Contains(l, "recovery") || strings.Contains(l, "ERROR") {
					t.Log(l)
				}
			}
			if t.Failed() && b != nil {
				t.Logf("server b log:\n%s", b.Log)
			}
		})
	}
}

func lines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}
