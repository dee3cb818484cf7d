package e2e

import (
	"os"
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// comparePrograms builds each testdata/DIR/NAME.c (with DIR's common.h,
// see testdataSource) and compares its output and exit status under do
// with a native run in the same directory: one subtest NAME on the
// default platform, or one subtest PLATFORM/NAME for each of onPlatforms.
func comparePrograms(t *testing.T, dir string, names []string, onPlatforms ...string) {
	t.Helper()
	build := t.TempDir()
	for _, name := range names {
		prog := tu.StaticProgram(t, build, name, testdataSource(t, dir, name))
		if len(onPlatforms) == 0 {
			t.Run(name, func(t *testing.T) {
				compare(t, tu.Run(t, timeout, build, "", prog), tu.Sandbox(t, timeout, build, "", nil, prog))
			})
			continue
		}
		for _, p := range onPlatforms {
			t.Run(p+"/"+name, func(t *testing.T) {
				want := tu.Run(t, timeout, build, "", prog)
				compare(t, want, tu.Sandbox(t, timeout, build, "", []string{"--platform", p}, prog))
			})
		}
	}
}

// killAtPhase1 runs prog natively and under do with a killable server.
// The program creates "phase1" in its working directory once it holds
// the state under test, then waits for a file "go"; the server is killed
// -9 and restarted in between, and the run must have recovered. It
// returns both runs' results and the run (for its logs and directory)
// for the caller to compare.
func killAtPhase1(t *testing.T, prog string) (want, got tu.Result, k *killableRun) {
	t.Helper()
	return killAtMarker(t, prog, "phase1")
}

// killAtMarker is killAtPhase1 for a program whose marker file has
// another name.
func killAtMarker(t *testing.T, prog, marker string) (want, got tu.Result, k *killableRun) {
	t.Helper()
	nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(nativeDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want = tu.Run(t, timeout, nativeDir, "", prog)

	k = startKillable(t, sockDir, sandboxDir, "5s", prog)
	if !k.waitUntil(func() bool { return tu.Exists(filepath.Join(sandboxDir, marker)) }) {
		t.Fatalf("the program did not create %q", marker)
	}
	k.killServer()
	if err := os.WriteFile(filepath.Join(sandboxDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got = k.wait()
	if k.recoveries() == 0 {
		t.Errorf("no recovery logged")
	}
	return want, got, k
}
