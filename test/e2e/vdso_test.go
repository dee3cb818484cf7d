package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestVDSOClock compares testdata/vdsoclock.c with native: the process
// has a vDSO (AT_SYSINFO_EHDR at [vdso], [vvar] below it, as
// /proc/self/maps shows them), CLOCK_MONOTONIC, CLOCK_REALTIME and
// CLOCK_BOOTTIME read through the vDSO and through the system call
// agree and never go back over interleaved reads, absolute
// clock_nanosleep and futex deadlines are never seen early through the
// vDSO after, relative nanosleeps never short, gettimeofday and time
// agree with CLOCK_REALTIME; a forked child and an exec'd image have
// the vDSO too.
func TestVDSOClock(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "vdsoclock.c"))
	want := tu.Run(t, timeout, dir, "", prog)
	for _, p := range platforms {
		t.Run(p, func(t *testing.T) {
			got := tu.Sandbox(t, timeout, dir, "", []string{"--platform", p}, prog)
			compare(t, want, got)
		})
	}
}

// clockTraps are the clock calls that reached the client.
var clockTraps = regexp.MustCompile(`(?m)\b(clock_gettime|gettimeofday|time)\(.*where=local`)

// TestVDSOClockTraps counts the clock reads of testdata/clockloop.c
// (100,000 each of clock_gettime(CLOCK_MONOTONIC),
// clock_gettime(CLOCK_REALTIME), gettimeofday and time, a second after
// the start) that trap into the client: the vDSO serves them (without
// it, every one traps: 400,000).
func TestVDSOClockTraps(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "clockloop.c"))
	for _, p := range platforms {
		t.Run(p, func(t *testing.T) {
			got := tu.Sandbox(t, timeout, dir, "", []string{"--platform", p, "--strace"}, prog)
			if got.ExitCode != 0 || got.Stdout != "400000 reads (done)\n" {
				t.Fatalf("exit %d, stdout %q\n%s", got.ExitCode, got.Stdout, got.Stderr)
			}
			// A few may trap: libc's own reads at start, a read while
			// the calibration resets (an overloaded host).
			if n := len(clockTraps.FindAllString(got.Stderr, -1)); n > 100 {
				t.Errorf("%d of the 400,000 clock reads trapped into the client; want at most 100", n)
			}
		})
	}
}

// TestVDSOClockAtStart counts the clock reads of testdata/clockstart.c
// (1,000 of CLOCK_MONOTONIC as soon as it starts) that trap into the
// client, against a running server, the quickest start (13-15 ms from
// the client's start to the application's here): the calibration began
// at the client's start and is ready by then. It was ready only 100 ms
// after the vDSO was made, and 52-681 of the 1,000 trapped.
func TestVDSOClockAtStart(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "clockstart.c"))
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
	for _, p := range platforms {
		t.Run(p, func(t *testing.T) {
			got := tu.Sandbox(t, timeout, dir, "", []string{"--server", s.Target, "--cwd", dir, "--platform", p, "--strace"}, prog)
			if got.ExitCode != 0 || got.Stdout != "1000 reads (done)\n" {
				t.Fatalf("exit %d, stdout %q\n%s", got.ExitCode, got.Stdout, got.Stderr)
			}
			if n := len(clockTraps.FindAllString(got.Stderr, -1)); n > 10 {
				t.Errorf("%d of the 1,000 clock reads at the start trapped into the client; want at most 10", n)
			}
		})
	}
}

// TestPtraceStubsAtExit runs a short program on the ptrace platform again
// and again: do exits with the program's status, at once. Its sandbox
// cgroup's removal killed the platform's stubs, do's own tracees, with
// SIGKILL: one of do's threads still waiting for its stub then took the
// stub's death for the OOM killer's and gVisor's ptrace platform killed
// do (exit 137, one run in six), and the killed stubs stayed in their
// exit stop, which held every run 2 s before "sandbox cgroup not
// removed". They are left to die with do now.
func TestPtraceStubsAtExit(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
	for i := range 8 {
		got := tu.Sandbox(t, timeout, dir, "", []string{"--server", s.Target, "--cwd", dir, "--platform", "ptrace", "--log-level", "info"}, tu.Busybox, "sh", "-c", "exit 3")
		if got.ExitCode != 3 {
			t.Fatalf("run %d: exit %d, want 3\n%s", i, got.ExitCode, got.Stderr)
		}
		for _, bad := range []string{"sandbox cgroup not removed", "has been killed by SIGKILL"} {
			if strings.Contains(got.Stderr, bad) {
				t.Fatalf("run %d: do said %q\n%s", i, bad, got.Stderr)
			}
		}
	}
}
