package e2e

import (
	"os"
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// capsPrograms are the C programs of testdata/caps: capget/capset/prctl
// round trips and the capability transitions of set*uid and execve, each
// compared with a native run (as root).
var capsPrograms = []string{"capsets", "setuid"}

func TestCapabilities(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range capsPrograms {
		src, err := os.ReadFile(filepath.Join("testdata", "caps", name+".c"))
		if err != nil {
			t.Fatal(err)
		}
		prog := tu.StaticProgram(t, t.TempDir(), name, string(src))
		for _, p := range platforms {
			t.Run(p+"/"+name, func(t *testing.T) {
				// Each run in a fresh directory: the programs chown files
				// they create in their working directory.
				want := tu.Run(t, timeout, t.TempDir(), "", prog)
				got := tu.Sandbox(t, timeout, t.TempDir(), "", []string{"--platform", p}, prog)
				compare(t, want, got)
			})
		}
	}
}

// TestCapabilitiesRecovery changes a process's capabilities and checks
// they are the same after two server kills.
func TestCapabilitiesRecovery(t *testing.T) {
	tu.RequireRoot(t)
	nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "caps", "recover.c"))
	if err != nil {
		t.Fatal(err)
	}
	prog := tu.StaticProgram(t, sockDir, "recover", string(src))
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
