package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// serverKill describes a program run under do while the remote sentry is
// killed with kill -9 and restarted on the same address (serverKillRun).
type serverKill struct {
	// prog and args: the static program and its arguments.
	prog string
	args []string
	// kills: how many times the server is killed at most.
	kills int
	// ready reports, from the sandbox's directory, whether the program
	// has got far enough for kill k (from 1); progress says how far it
	// got, for the log.
	ready    func(dir string, k int) bool
	progress func(dir string) string
	// grace is the client's --grace (default 1s); runTimeout bounds the
	// sandboxed run (default 2*timeout).
	grace      string
	runTimeout time.Duration
	// poll is how often ready is asked (default 5 ms).
	poll time.Duration
	// gofer kills (and restarts) the gofer instead of the server.
	gofer bool
}

// serverKillRun runs k.prog natively in a fresh directory, then under do
// against a server (and gofer) of its own, killing the server (with
// k.gofer, the gofer) with kill -9 whenever k.ready says so and
// restarting it on the same address 100 ms later, up to k.kills times.
// It checks that the output and files are the native ones, that at least
// one kill happened before the program ended and that the client logged
// a recovery per server kill, and returns the client's debug log for the
// caller's own counts.
//
// A 50 ms heartbeat on a loaded machine can also miss a beat and the
// client recover once more from the live server: more recoveries than
// kills are logged, not an error (the output comparison covers them).
func serverKillRun(t *testing.T, k serverKill) []byte {
	t.Helper()
	if k.grace == "" {
		k.grace = "1s"
	}
	if k.runTimeout == 0 {
		k.runTimeout = 2 * timeout
	}
	if k.poll == 0 {
		k.poll = 5 * time.Millisecond
	}
	argv := append([]string{k.prog}, k.args...)
	nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", argv...)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	a := tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target)
	logFile := filepath.Join(sockDir, "client.log")
	flags := []string{"--server", a.Target, "--cwd", sandboxDir, "--grace", k.grace, "--heartbeat", "50ms",
		"--debug-log", logFile}
	if level := os.Getenv("E2E_CLIENT_LOG_LEVEL"); level != "" {
		flags = append(flags, "--log-level", level)
	}
	defer keepClientLog(t, logFile)
	done := make(chan tu.Result, 1)
	go func() {
		// Sent also when Sandbox fails the test (a timeout ends this
		// goroutine): the loop below would wait for it forever.
		var r tu.Result
		defer func() { done <- r }()
		r = tu.Sandbox(t, k.runTimeout, sandboxDir, "", flags, argv...)
	}()
	var got tu.Result
	finished, kills := false, 0
	for n := 1; n <= k.kills && !finished; n++ {
		for !finished && !k.ready(sandboxDir, n) {
			select {
			case got = <-done:
				finished = true
			case <-time.After(k.poll):
			}
		}
		if finished {
			break
		}
		victim, verb, args := &a, "server", []string{"--gofer", g.Target}
		if k.gofer {
			victim, verb, args = &g, "gofer", []string{"--root", "/"}
		}
		(*victim).Kill()
		kills++
		t.Logf("kill %d of the %s at %s", n, verb, k.progress(sandboxDir))
		time.Sleep(100 * time.Millisecond)
		if *victim = tu.StartDaemonAt(t, (*victim).Target, verb, args...); *victim == nil {
			t.Fatalf("%s did not restart", verb)
		}
	}
	if !finished {
		restarted := time.Now()
		got = <-done
		t.Logf("the program ended %v after the last restart", time.Since(restarted).Round(time.Millisecond))
	}
	compare(t, want, got)
	compareTrees(t, nativeDir, sandboxDir)
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if kills == 0 {
		t.Error("the program finished before the first kill")
	}
	if k.gofer {
		// The server re-resolves its handles; the client sees a pause.
		return log
	}
	if n := bytes.Count(log, []byte("recovered from a remote sentry failure")); n < kills {
		t.Errorf("%d recoveries logged, want at least %d (one per kill)", n, kills)
	} else if n > kills {
		t.Logf("%d recoveries for %d kills (a missed heartbeat)", n, kills)
	}
	return log
}

// keepClientLog copies a failed test's client log into $E2E_KEEP_LOGS, if
// set (the test's own directory goes with it).
func keepClientLog(t *testing.T, logFile string) {
	keep := os.Getenv("E2E_KEEP_LOGS")
	if keep == "" || !t.Failed() {
		return
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Logf("keeping the client log: %v", err)
		return
	}
	// Runs of one test (-count) keep a log each.
	tu.KeepLog(t, keep, strconv.FormatInt(time.Now().UnixNano(), 10)+".client.log", b)
}
