package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// killableRun is a program run under do against a gofer and a server of
// the test's own, so that the test can kill -9 the server mid-run and start
// a successor on the same address, as the recovery tests do.
type killableRun struct {
	t       *testing.T
	gofer   *tu.Daemon
	server  *tu.Daemon
	logFile string
	// dir is the program's working directory in the sandbox.
	dir  string
	done chan tu.Result
	// result is the program's result once finished is set.
	result   tu.Result
	finished bool
}

// startKillable starts a gofer and a server with sockets in sockDir and
// runs argv under do in sandboxDir (its cwd), retrying the same server for
// grace after a failure.
func startKillable(t *testing.T, sockDir, sandboxDir, grace string, argv ...string) *killableRun {
	t.Helper()
	return startKillableWith(t, sockDir, sandboxDir, grace, nil, argv...)
}

// startKillableWith is startKillable with doFlags added to do's.
func startKillableWith(t *testing.T, sockDir, sandboxDir, grace string, doFlags []string, argv ...string) *killableRun {
	t.Helper()
	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	k := &killableRun{
		t:       t,
		gofer:   g,
		server:  tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target),
		logFile: filepath.Join(sockDir, "client.log"),
		dir:     sandboxDir,
		done:    make(chan tu.Result, 1),
	}
	flags := append([]string{"--server", k.server.Target, "--cwd", sandboxDir, "--grace", grace, "--heartbeat", "50ms", "--debug-log", k.logFile}, doFlags...)
	go func() { k.done <- tu.Sandbox(t, 2*timeout, sandboxDir, "", flags, argv...) }()
	return k
}

// waitUntil polls cond until it holds or the program finishes; it reports
// whether cond held (false: the program ended, or timeout passed).
func (k *killableRun) waitUntil(cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !k.finished && !cond() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case k.result = <-k.done:
			k.finished = true
		case <-time.After(5 * time.Millisecond):
		}
	}
	return !k.finished
}

// killServer kills the server with SIGKILL and starts its successor on
// the same address.
func (k *killableRun) killServer() {
	k.t.Helper()
	k.server.Kill()
	time.Sleep(100 * time.Millisecond)
	if k.server = tu.StartDaemonAt(k.t, k.server.Target, "server", "--gofer", k.gofer.Target); k.server == nil {
		k.t.Fatal("server did not restart")
	}
}

// wait returns the program's result.
func (k *killableRun) wait() tu.Result {
	if !k.finished {
		k.result, k.finished = <-k.done, true
	}
	return k.result
}

// recoveries is how many recoveries the client logged.
func (k *killableRun) recoveries() int {
	log, _ := os.ReadFile(k.logFile)
	return bytes.Count(log, []byte("recovered from a remote sentry failure"))
}

// compareAcrossTickKills runs testdata/DIR/NAME.c natively and under do,
// killing -9 the sandbox's server twice (at 20 and 60 bytes of the
// program's "ticks" file, one byte per tick), and compares the outputs:
// the program's state must come back after each kill.
func compareAcrossTickKills(t *testing.T, dir, name string) {
	t.Helper()
	tu.RequireRoot(t)
	nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	prog := tu.StaticProgramFile(t, sockDir, filepath.Join("testdata", dir, name+".c"))
	want := tu.Run(t, timeout, nativeDir, "", prog)

	k := startKillable(t, sockDir, sandboxDir, "2s", prog)
	ticks := func() int {
		b, _ := os.ReadFile(filepath.Join(sandboxDir, "ticks"))
		return len(b)
	}
	for _, at := range []int{20, 60} {
		if !k.waitUntil(func() bool { return ticks() >= at }) {
			break
		}
		t.Logf("killing the server at %d ticks", ticks())
		k.killServer()
	}
	got := k.wait()
	if n := k.recoveries(); n < 2 {
		t.Errorf("%d recoveries logged, want 2 (the program finished before the kills?)", n)
	}
	compare(t, want, got)
}
