package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// doIn runs `do FLAGS -- busybox sh -c SCRIPT` with TMPDIR set to tmp (where
// do makes its socket directory) and returns the started command and its
// output buffer.
func doIn(t *testing.T, tmp string, flags []string, script string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	args := append(append([]string{"do"}, flags...), "--", tu.Busybox, "sh", "-c", script)
	cmd := exec.Command(tu.Binary(t), args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// waitForFile waits for the sandbox cmd to make path (it says so when it
// has started), and fails the test with cmd's output if it does not
// within the test timeout.
func waitForFile(t *testing.T, cmd *exec.Cmd, out *bytes.Buffer, path string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the sandbox did not start; its output:\n%s", out)
		}
	}
}

func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		// SIGABRT makes do's Go runtime print every goroutine's stack
		// into its output: where it waits is the diagnosis.
		cmd.Process.Signal(syscall.SIGABRT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		t.Fatalf("do did not exit; its output:\n%s", cmd.Stdout)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// checkNoLeftovers fails if do left anything in its TMPDIR.
func checkNoLeftovers(t *testing.T, tmp string) {
	t.Helper()
	ents, _ := os.ReadDir(tmp)
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("do left %v in its temp directory", names)
	}
}

// TestDoOverlay checks that do keeps the host untouched by default, and
// what --force-overlay=false and --volume change.
func TestDoOverlay(t *testing.T) {
	tu.RequireRoot(t)
	hostDir := t.TempDir()
	name := fmt.Sprintf("rd-overlay-%d", time.Now().UnixNano())
	for _, tc := range []struct {
		name    string
		flags   []string
		script  string
		wantOut string
		// onHost is the file (under hostDir) that must exist afterwards
		// with this content; absent lists files that must not.
		onHost map[string]string
		absent []string
	}{
		{
			name: "overlay by default", script: "cd " + hostDir + " && echo hi > " + name + " && cat " + name + " && rm -f keep && ls",
			wantOut: "hi\n" + name + "\n", absent: []string{name}, onHost: map[string]string{"keep": "kept\n"},
		},
		{
			name: "write through", flags: []string{"--force-overlay=false"}, script: "echo through > " + hostDir + "/" + name,
			onHost: map[string]string{name: "through\n"},
		},
		{
			name: "volume writable over the overlay", flags: []string{"--volume", hostDir + ":/mnt/v"}, script: "echo vol > /mnt/v/w && cat /mnt/v/keep",
			wantOut: "kept\n", onHost: map[string]string{"w": "vol\n"},
		},
		{
			name: "volume read-only", flags: []string{"--volume", hostDir + ":/mnt/v:ro"}, script: "(echo x > /mnt/v/ro) 2>/dev/null || echo refused",
			wantOut: "refused\n", absent: []string{"ro"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(filepath.Join(hostDir, name))
			if err := os.WriteFile(filepath.Join(hostDir, "keep"), []byte("kept\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			cmd, out := doIn(t, tmp, tc.flags, tc.script)
			if code := waitExit(t, cmd); code != 0 || (tc.wantOut != "" && out.String() != tc.wantOut) {
				t.Errorf("exit %d, output %q; want 0, %q", code, out.String(), tc.wantOut)
			}
			for f, want := range tc.onHost {
				if got, err := os.ReadFile(filepath.Join(hostDir, f)); err != nil || string(got) != want {
					t.Errorf("host file %s: %q, %v; want %q", f, got, err, want)
				}
			}
			for _, f := range tc.absent {
				if _, err := os.Stat(filepath.Join(hostDir, f)); err == nil {
					t.Errorf("host file %s exists: the sandbox wrote to the host", f)
				}
			}
			checkNoLeftovers(t, tmp)
		})
	}
	for _, bad := range [][]string{{"--volume", "relative:/x"}, {"--volume", hostDir}, {"--volume", hostDir + ":/x:rx"}, {"--volume", "/no/such:/x"}} {
		cmd, out := doIn(t, t.TempDir(), bad, "true")
		if code := waitExit(t, cmd); code != 2 || !strings.Contains(out.String(), "--volume") {
			t.Errorf("do %v: exit %d %q, want 2 and an error naming --volume", bad, code, out.String())
		}
	}
}

// TestDoSignals checks that do forwards terminal signals to the
// application and cleans up on the way out.
func TestDoSignals(t *testing.T) {
	tu.RequireRoot(t)
	// busybox sh -c ignores SIGQUIT until it execs a command (as Linux
	// does, a QUIT sent before is discarded), so the QUIT case's "ready"
	// comes from a program whose QUIT is at its default.
	ready := tu.StaticProgram(t, t.TempDir(), "ready", `#include <stdio.h>
#include <unistd.h>
int main(void) { puts("ready"); fflush(stdout); for (;;) pause(); }
`)
	for _, tc := range []struct {
		name     string
		sig      syscall.Signal
		script   string
		wantOut  string
		wantExit int
	}{
		{"TERM runs the trap", syscall.SIGTERM, `trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done`, "ready\ngot TERM\n", 3},
		{"HUP runs the trap", syscall.SIGHUP, `trap 'echo got HUP; exit 4' HUP; echo ready; while :; do sleep 0.05; done`, "ready\ngot HUP\n", 4},
		{"INT without a handler kills", syscall.SIGINT, `echo ready; exec sleep 100`, "ready\n", 128 + 2},
		{"QUIT without a handler kills", syscall.SIGQUIT, `exec ` + ready, "ready\n", 128 + 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The signal lands while sh execs sleep, whose handler-less
			// image must not run sh's handler: a race, so a few rounds.
			for round := 0; round < 4; round++ {
				tmp := t.TempDir()
				cmd, out := doIn(t, tmp, nil, tc.script)
				// The application's line, not a log line's word.
				waitFor(t, func() bool { return strings.Contains("\n"+out.String(), "\nready\n") })
				cmd.Process.Signal(tc.sig)
				if code := waitExit(t, cmd); code != tc.wantExit || out.String() != tc.wantOut {
					t.Fatalf("round %d: exit %d output %q; want %d %q", round, code, out.String(), tc.wantExit, tc.wantOut)
				}
				checkNoLeftovers(t, tmp)
			}
		})
	}
}
