package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// jobctlPrograms are the C programs of testdata/jobctl, each compared
// with a native run.
var jobctlPrograms = []string{"stop"}

// TestJobControlPrograms runs the stop-signal programs natively and in
// the sandbox (both platforms: stopping threads is the client's work).
func TestJobControlPrograms(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range jobctlPrograms {
		prog := tu.StaticProgram(t, dir, name, testdataSource(t, "jobctl", name))
		for _, p := range platforms {
			t.Run(p+"/"+name, func(t *testing.T) {
				want := tu.Run(t, timeout, dir, "", prog)
				got := tu.Sandbox(t, timeout, dir, "", []string{"--platform", p}, prog)
				compare(t, want, got)
			})
		}
	}
}

// TestJobControlAcrossServerKill kills the remote sentry (kill -9, then a
// restart on the same address) after each step of testdata/jobctl/
// recover.c: a child stopped and waited for, then continued and not yet
// waited for, then stopped again and not yet waited for. After each
// recovery the child is still stopped (its threads stand still, /proc
// says T), the unwaited event is reported once, and the output matches
// a native run.
func TestJobControlAcrossServerKill(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.StaticProgram(t, t.TempDir(), "recover", testdataSource(t, "jobctl", "recover"))
	nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", bin)
	k := startKillable(t, sockDir, sandboxDir, "5s", bin)
	progress := func() int {
		b, _ := os.ReadFile(filepath.Join(sandboxDir, "progress"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	for step := 1; step <= 3; step++ {
		if !k.waitUntil(func() bool { return progress() >= step }) {
			t.Fatalf("the program ended or stalled before step %d", step)
		}
		t.Logf("killing the server at step %d", progress())
		k.killServer()
	}
	got := k.wait()
	if n := k.recoveries(); n < 3 {
		t.Errorf("%d recoveries logged, want 3", n)
	}
	compare(t, want, got)
}
