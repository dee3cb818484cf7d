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
var timerPrograms = []string{"mincore", "uname", "alarm", "itimer", "posixtimer", "overrun", "sevthread", "pselect", "cputime", "cpuitimer"}

// TestTimersAndProbes runs each program of testdata/timers natively and in
// the sandbox and compares output and exit status.
func TestTimersAndProbes(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "timers", timerPrograms, platforms...)
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
// fired, each took the full 10 s more than an empty sandbox run. Busybox's runs under sh because it
// execs the command in its own process, and the sandbox's first process
// ignores signals it has no handler for, as a PID namespace's init does.
func TestTimeoutCommands(t *testing.T) {
	tu.RequireRoot(t)
	if _, err := os.Stat("/usr/bin/timeout"); err != nil {
		t.Fatalf("coreutils timeout is required: %v", err)
	}
	tu.Binary(t) // built before anything is timed
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
			// The sandbox's own start and stop, at the machine's current
			// load, are not the command's time.
			start := time.Now()
			tu.Sandbox(t, timeout, dir, "", nil, tu.Busybox, "true")
			overhead := time.Since(start)
			start = time.Now()
			got := tu.Sandbox(t, timeout, dir, "", nil, c.argv...)
			took := time.Since(start) - overhead
			compare(t, want, got)
			if took > 6*time.Second {
				t.Errorf("took %v more than an empty run: the timer did not end the command", took)
			}
		})
	}
}

// TestMakeJobs runs GNU make with two jobs and more targets than jobs: it
// waits for SIGCHLD in pselect6 with a mask that unblocks it, so a child's
// exit must interrupt the forwarded wait.
func TestMakeJobs(t *testing.T) {
	tu.RequireRoot(t)
	if _, err := os.Stat("/usr/bin/make"); err != nil {
		t.Fatalf("GNU make is required (test/setup.sh installs it): %v", err)
	}
	makefile := "all: a b c d e\n\t@echo done\na b c d e:\n\t@" + tu.Busybox + " sleep 0.1; echo $@ > $@\n"
	run := func(sandbox bool) (tu.Result, string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte(makefile), 0o644); err != nil {
			t.Fatal(err)
		}
		argv := []string{"/usr/bin/make", "-j2", "-s"}
		if sandbox {
			// Written through to the host, to compare the files.
			return tu.Sandbox(t, timeout, dir, "", []string{"--force-overlay=false"}, argv...), dir
		}
		return tu.Run(t, timeout, dir, "", argv...), dir
	}
	want, wantDir := run(false)
	got, gotDir := run(true)
	compare(t, want, got)
	compareTrees(t, wantDir, gotDir)
}

// TestTimerRecoveryServerKill kills -9 the remote sentry twice while two
// interval timers tick (testdata/timers/ticker.c): the program finishes
// only if the restored servers re-arm its timers, and its output matches
// native.
func TestTimerRecoveryServerKill(t *testing.T) {
	compareAcrossTickKills(t, "timers", "ticker")
}
