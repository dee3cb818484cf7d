package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// keysPrograms are the C programs of testdata/keys, each compared with a
// native run:
//   - timerfd_abs: absolute timerfds read back no more than they were set
//     to and never fire early (the server's view of the client's clocks is
//     refined from the timer calls' own clock samples, not only Hello's).
//   - sendfile_big: one sendfile of 40 MiB to a regular file moves it all
//     (beyond what a write record carries, it is made durable instead).
//   - dgram_fill: a datagram socketpair holds as many datagrams as Linux's
//     per-datagram charge against SO_SNDBUF allows, polls writable when
//     Linux does, and a sendfile to it when full is EAGAIN (LTP sendfile07).
var keysPrograms = []string{"timerfd_abs", "sendfile_big", "dgram_fill"}

func TestKeysPrograms(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "keys", keysPrograms)
}

// TestSendfileBigServerKill kills -9 the remote sentry while a program
// makes sendfiles larger than a write record may carry (synced copies,
// made durable before their reply): every copy completes once, and the
// output and file are identical to a native run.
func TestSendfileBigServerKill(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "sendfile_loop", testdataSource(t, "keys", "sendfile_loop"))
	nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", prog)

	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	a := tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target)
	logFile := filepath.Join(sockDir, "client.log")
	done := make(chan tu.Result, 1)
	go func() {
		done <- tu.Sandbox(t, 4*timeout, sandboxDir, "", []string{
			"--server", a.Target, "--cwd", sandboxDir, "--grace", "2s", "--heartbeat", "50ms",
			"--debug-log", logFile,
		}, prog)
	}()
	const copyBytes = 12 << 20
	out := filepath.Join(sandboxDir, "out")
	var got tu.Result
	finished, kills := false, 0
	for k := 1; k <= 3 && !finished; k++ {
		// Kill inside copy 2k-1 (the file has grown past its start).
		for !finished && size(out) <= int64(2*k-1)*copyBytes+copyBytes/3 {
			select {
			case got = <-done:
				finished = true
			case <-time.After(2 * time.Millisecond):
			}
		}
		if finished {
			break
		}
		a.Kill()
		kills++
		t.Logf("kill %d at %d bytes", k, size(out))
		time.Sleep(100 * time.Millisecond)
		if a = tu.StartDaemonAt(t, a.Target, "server", "--gofer", g.Target); a == nil {
			t.Fatal("server did not restart")
		}
	}
	if !finished {
		got = <-done
	}
	if kills == 0 {
		t.Error("the program finished before the first kill")
	}
	log, _ := os.ReadFile(logFile)
	// Each kill is recovered from; on a loaded machine a 50 ms heartbeat
	// can also miss a beat and the client recover once more from the live
	// server (a recovery the output comparison below covers too).
	if n := bytes.Count(log, []byte("recovered from a remote sentry failure")); n < kills {
		t.Errorf("%d recoveries logged, want at least %d (one per kill)", n, kills)
	} else if n > kills {
		t.Logf("%d recoveries for %d kills (a missed heartbeat)", n, kills)
	}
	compare(t, want, got)
	compareTrees(t, nativeDir, sandboxDir)
}

func size(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
