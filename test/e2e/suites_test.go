package e2e

import (
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// The regression programs of the public suites' failures (LTP syscalls,
// pjdfstest; see docs/COMPATIBILITY.md): each runs natively and in the
// sandbox, writing through to a directory of its own, and the outputs must
// match.

// suiteProgram compiles testdata/suites/name.c.
func suiteProgram(t *testing.T, name string) string {
	t.Helper()
	return tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "suites", name+".c"))
}

func TestSuitesRegressions(t *testing.T) {
	tu.RequireRoot(t)
	for _, tc := range []struct {
		name string
		// flags are extra do flags.
		flags []string
	}{
		// unlink_open: a file unlinked while open or mapped leaves its
		// directory at once (the gofer's silly name is out of sight).
		{name: "unlink_open"},
		// leases: F_SETLEASE and its breaks, lease-break-time, F_SETOWN,
		// F_SETOWN_EX, F_SETSIG and O_ASYNC.
		{name: "leases"},
		// futex_requeue: EFAULT for a bad address, FUTEX_CMP_REQUEUE's
		// checks and its count of woken plus requeued waiters.
		{name: "futex_requeue"},
		// fsize: RLIMIT_FSIZE's EFBIG and SIGXFSZ.
		{name: "fsize"},
		// pipe_size: F_GETPIPE_SZ, F_SETPIPE_SZ and fs/pipe-max-size.
		{name: "pipe_size"},
		// setpgid_exec: a child that exec'd keeps its process group.
		{name: "setpgid_exec"},
		// readlink_empty: readlink of an empty path.
		{name: "readlink_empty"},
		// epoll_nest: the limit on nested epolls.
		{name: "epoll_nest"},
		// execve_noargv: execve with an empty argv.
		{name: "execve_noargv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := suiteProgram(t, tc.name)
			want := tu.Run(t, timeout, "", "", prog, t.TempDir())
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s", want.ExitCode, want.Stderr)
			}
			got := tu.Sandbox(t, timeout, "", "", tc.flags, prog, t.TempDir())
			compare(t, want, got)
		})
	}
}
