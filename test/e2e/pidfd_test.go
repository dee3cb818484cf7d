package e2e

import (
	"os/exec"
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPidfd runs testdata/pidfd/pidfd.c natively and under do:
// pidfd_open, pidfd_send_signal (a pidfd's and a /proc/<pid> directory's),
// pidfd_getfd, clone(CLONE_PIDFD), waitid(P_PIDFD) with PIDFD_NONBLOCK,
// poll and epoll of a pidfd before and after its process exits and is
// reaped, its fd link, fdinfo and fstat, and the errors Linux gives for
// each; all were ENOSYS (LTP pidfd_open, pidfd_send_signal, pidfd_getfd).
func TestPidfd(t *testing.T) {
	stracedTestdata(t, "pidfd", "pidfd")
}

// TestPidfdGoExec runs testdata/pidfd/gowait, a Go program that starts,
// signals and waits for children with os/exec and os.StartProcess,
// natively and under do. Go's os package uses pidfds once its probe of
// the four calls succeeds, so with a part of them missing or wrong such
// a program breaks: the output (a pidfd held while a child runs, the
// waits' statuses) must be the native run's.
func TestPidfdGoExec(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "gowait")
	build := exec.Command("go", "build", "-o", prog, "./testdata/pidfd/gowait")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	sandboxLogged(t, t.TempDir(), nil, &want, prog)
}
