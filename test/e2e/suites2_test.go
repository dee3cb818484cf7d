package e2e

import (
	"os"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// The fixes of this file come from runs of the public suites (LTP
// syscalls, pjdfstest; docs/COMPATIBILITY.md, "Measured against public
// suites"): each program in testdata/suites2 runs natively and in the
// sandbox and the two must agree.

// TestKernelConfig reads /proc/config.gz as LTP does (zcat) and probes
// each option the program knows with a system call: the sandbox's
// configuration must say y exactly for what it implements. Natively the
// same program checks the probes against the host kernel's own
// configuration, when it has one.
func TestKernelConfig(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgram(t, dir, "kconfig", testdataSource(t, "suites2", "kconfig"))
	got := tu.Sandbox(t, timeout, dir, "", nil, prog)
	if got.ExitCode != 0 || !strings.HasSuffix(got.Stdout, " options probed\n") {
		t.Fatalf("in the sandbox: exit %d\nstdout:\n%s\nstderr:\n%s", got.ExitCode, got.Stdout, got.Stderr)
	}
	if _, err := os.Stat("/proc/config.gz"); err != nil {
		t.Logf("no /proc/config.gz here (%v): no native run to compare", err)
		return
	}
	compare(t, tu.Run(t, timeout, dir, "", prog), got)
}

// TestSuitesFixes compares each program of testdata/suites2 with a native
// run, each side in a directory of its own.
func TestSuitesFixes(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range []string{
		// proc_reread: /proc files start over at offset 0; /proc/self/mounts
		// polls mount changes (LTP epoll_wait10).
		"proc_reread",
		// mmap_validate: MAP_SHARED_VALIDATE's EOPNOTSUPP for unknown
		// flags (LTP mmap20).
		"mmap_validate",
		// epoll_exclusive: one waiter of several EPOLLEXCLUSIVE epolls
		// wakes per event (LTP epoll_wait16).
		"epoll_exclusive",
		// sigpipe_blocked: a blocked SIGPIPE of an EPIPE write stays
		// pending (LTP writev01).
		"sigpipe_blocked",
		// access_rofs: access(W_OK) on a read-only mount is EROFS (LTP
		// access04).
		"access_rofs",
		// epoll_et_pipe: edge-triggered epoll on a pipe's ends wakes as
		// Linux's rd_wait and wr_wait (LTP epoll_wait06).
		"epoll_et_pipe",
	} {
		t.Run(name, func(t *testing.T) {
			prog := tu.StaticProgram(t, t.TempDir(), name, testdataSource(t, "suites2", name))
			want := tu.Run(t, timeout, t.TempDir(), "", prog)
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			compare(t, want, tu.Sandbox(t, timeout, t.TempDir(), "", nil, prog))
		})
	}
}
