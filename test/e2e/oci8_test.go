package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// seccompPrograms are the C programs of testdata/seccomp run natively and
// in the sandbox: argument checks, the privilege rule and ERRNO (basic),
// TRAP with its siginfo, the kill actions and strict mode (trap), and
// inheritance over fork, threads and exec with TSYNC (inherit).
var seccompPrograms = []string{"basic", "trap", "inherit"}

// TestSeccompFilters compares the application's own seccomp filters with
// Linux's: each program's output and exit status under `do`, on both
// platforms, equal a native run's.
func TestSeccompFilters(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range seccompPrograms {
		src, err := os.ReadFile(filepath.Join("testdata", "seccomp", name+".c"))
		if err != nil {
			t.Fatal(err)
		}
		prog := tu.StaticProgram(t, dir, name, string(src))
		for _, p := range platforms {
			t.Run(p+"/"+name, func(t *testing.T) {
				want := tu.Run(t, timeout, dir, "", prog)
				got := tu.Sandbox(t, timeout, dir, "", []string{"--platform", p}, prog)
				compare(t, want, got)
			})
		}
	}
}

// TestSeccompAcrossServerKill installs filters, kills the remote sentry
// -9 before they are used, and checks that after the recovery they still
// apply (ERRNO, TRAP with the handler's siginfo) in the process and in a
// child forked before the kill: filters are client state.
func TestSeccompAcrossServerKill(t *testing.T) {
	tu.RequireRoot(t)
	src, err := os.ReadFile(filepath.Join("testdata", "seccomp", "recover.c"))
	if err != nil {
		t.Fatal(err)
	}
	progDir, nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	prog := tu.StaticProgram(t, progDir, "recover", string(src))
	if err := os.WriteFile(filepath.Join(nativeDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := tu.Run(t, timeout, nativeDir, "", prog)

	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	a := tu.StartDaemon(t, sockDir, "a", "server", "--gofer", g.Target)
	logFile := filepath.Join(sockDir, "client.log")
	done := make(chan tu.Result, 1)
	go func() {
		done <- tu.Sandbox(t, 2*timeout, sandboxDir, "", []string{
			"--server", a.Target, "--cwd", sandboxDir, "--grace", "5s", "--heartbeat", "50ms",
			"--debug-log", logFile,
		}, prog)
	}()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(filepath.Join(sandboxDir, "installed")); err == nil {
			break
		}
		select {
		case got := <-done:
			t.Fatalf("the program ended before installing its filters: %+v", got)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the program did not install its filters")
		}
	}
	a.Kill()
	time.Sleep(100 * time.Millisecond)
	if a = tu.StartDaemonAt(t, a.Target, "server", "--gofer", g.Target); a == nil {
		t.Fatal("server did not restart")
	}
	if err := os.WriteFile(filepath.Join(sandboxDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := <-done
	log, _ := os.ReadFile(logFile)
	if !bytes.Contains(log, []byte("recovered from a remote sentry failure")) {
		t.Errorf("no recovery logged")
	}
	compare(t, want, got)
	if _, err := os.Stat(filepath.Join(sandboxDir, "made-by-seccomp-test")); err == nil {
		t.Errorf("a mkdir the filter refuses made its directory")
	}
}
