package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// timerPrograms are the C programs of testdata/timers: memory probing,
// uname, timers and signal-masked waits, each compared with a native run.
var timerPrograms = []string{"mincore", "uname"}

// TestTimersAndProbes runs each program of testdata/timers natively and in
// the sandbox and compares output and exit status.
func TestTimersAndProbes(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	for _, name := range timerPrograms {
		src, err := os.ReadFile(filepath.Join("testdata", "timers", name+".c"))
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

// TestGNUGrep runs Debian's dynamically linked GNU grep, whose stack probe
// (gnulib's, through mincore) scanned the whole address space while mincore
// reported unmapped memory as resident.
func TestGNUGrep(t *testing.T) {
	tu.RequireRoot(t)
	if _, err := os.Stat("/bin/grep"); err != nil {
		t.Fatalf("GNU grep is required (test/setup.sh installs it): %v", err)
	}
	dir := t.TempDir()
	in := "abc\nxyz\nbob\n"
	want := tu.Run(t, timeout, dir, in, "/bin/grep", "b")
	got := tu.Sandbox(t, timeout, dir, in, nil, "/bin/grep", "b")
	compare(t, want, got)
	if !strings.Contains(got.Stdout, "abc") {
		t.Errorf("grep printed %q", got.Stdout)
	}
}
