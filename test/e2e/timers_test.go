package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// timerPrograms are the C programs of testdata/timers: memory probing,
// uname, timers and signal-masked waits, each compared with a native run.
var timerPrograms = []string{"mincore", "uname", "alarm", "itimer", "posixtimer", "overrun"}

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

// TestTimeoutCommands checks that timeout(1) ends its command: coreutils'
// (a POSIX timer, then alarm) and busybox's (a watcher process that
// kills). The bound is a hang check, not a benchmark: before timers
// fired, each took the full 10 s. Busybox's runs under sh because it
// execs the command in its own process, and the sandbox's first process
// ignores signals it has no handler for, as a PID namespace's init does.
func TestTimeoutCommands(t *testing.T) {
	tu.RequireRoot(t)
	if _, err := os.Stat("/usr/bin/timeout"); err != nil {
		t.Fatalf("coreutils timeout is required: %v", err)
	}
	cases := []struct {
		name string
		argv []string
	}{
		{"coreutils", []string{"/usr/bin/timeout", "2", tu.Busybox, "sleep", "10"}},
		{"busybox", []string{tu.Busybox, "sh", "-c", tu.Busybox + " timeout 2 " + tu.Busybox + " sleep 10; echo status $?"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			want := tu.Run(t, timeout, dir, "", c.argv...)
			start := time.Now()
			got := tu.Sandbox(t, timeout, dir, "", nil, c.argv...)
			took := time.Since(start)
			compare(t, want, got)
			if took > 6*time.Second {
				t.Errorf("took %v: the timer did not end the command", took)
			}
		})
	}
}
