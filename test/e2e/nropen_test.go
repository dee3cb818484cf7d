package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestNrOpen runs testdata/sysctl/nr_open in the sandbox only (a native
// run would change the host's fs/nr_open): its bounds, RLIMIT_NOFILE's
// ceiling, the fds a table may grow to under it, and fork,
// unshare(CLONE_FILES) and close_range's CLOSE_RANGE_UNSHARE refused
// (EMFILE) and execve killed (SIGSEGV) for a copy of a table that would
// not fit, a copy of the fds below the range's start fitting, against
// Linux's answers.
func TestNrOpen(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "nr_open", testdataSource(t, "sysctl", "nr_open"))
	got := tu.Sandbox(t, timeout, "", "", nil, prog)
	if got.ExitCode != 0 {
		t.Fatalf("exit %d\n%s%s", got.ExitCode, got.Stdout, got.Stderr)
	}
	if got.Stdout != nrOpenWant {
		t.Errorf("got\n%s\nwant (Linux's)\n%s", got.Stdout, nrOpenWant)
	}
}

const nrOpenWant = `default = 1048576
write 63 = -1 EINVAL
write 2147483585 = -1 EINVAL
write -1 = -1 EINVAL
write junk = -1 EINVAL
write 2147483584 = 0
read = 2147483584
setrlimit 2147483584 = 0
setrlimit 2147483585 = -1 EPERM
write 1048576 = 0
limit kept = 2147483584 2147483584
setrlimit 1048577 = -1 EPERM
setrlimit 1048576 = 0
write 64 = 0
read = 64
setrlimit 65 = -1 EPERM
setrlimit 64 = 0
write 1048576 = 0
setrlimit 1048576 = 0
write 64 = 0
dup2 64 = -1 EBADF
F_DUPFD 64 = -1 EMFILE
write 1048576 = 0
dup2 65 = 65
write 64 = 0
dup2 100 = 100
dup2 127 = 127
dup2 128 = -1 EBADF
F_DUPFD 120 = 120
F_DUPFD 126 = 126
fork = -1 EMFILE
clone CLONE_FILES = 0
unshare CLONE_FILES = -1 EMFILE
close_range 3 -1 UNSHARE = 0
F_GETFD 127 = 0
close_range 64 -1 UNSHARE = 0
close_range 100 -1 UNSHARE = -1 EMFILE
close_range 3 127 UNSHARE = 0
close_range 3 126 UNSHARE = -1 EMFILE
close_range 3 -1 UNSHARE|CLOEXEC = -1 EMFILE
F_GETFD 100 = 0
execve = killed by SIGSEGV
fork after close = 0
unshare CLONE_FILES after close = 0
close_range 3 10 UNSHARE|CLOEXEC = 0
execve after close = 0
write 1048576 = 0
write 1000 = -1 EACCES
user read = 1048576
`

// TestNsLastPid runs testdata/sysctl/ns_last_pid in the sandbox only (a
// native write would move the host's pids): the last pid handed out, a
// write steering the next fork, its bounds, and the writer's capability
// (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE) checked at the write, against
// Linux's answers.
func TestNsLastPid(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "ns_last_pid", testdataSource(t, "sysctl", "ns_last_pid"))
	got := tu.Sandbox(t, timeout, "", "", nil, prog)
	if got.ExitCode != 0 {
		t.Fatalf("exit %d\n%s%s", got.ExitCode, got.Stdout, got.Stderr)
	}
	if got.Stdout != nsLastPidWant {
		t.Errorf("got\n%s\nwant (Linux's)\n%s", got.Stdout, nsLastPidWant)
	}
}

const nsLastPidWant = `mode = 666
fork gets last+1 = yes
read after fork is its pid = yes
write pid-1 = 0
same pid again = yes
write 1000 = 0
read = 1000
fork = 1001
fork skips a live pid = yes
write -1 = -1 EINVAL
write junk = -1 EINVAL
write pid_max+1 = -1 EINVAL
write pid_max = 0
fork after pid_max = 300
write 0 = 0
read = 0
write 5000 = 0
user open = 0
user write = -1 EPERM
user read = 5001
root without CAP_SYS_ADMIN write = 0
root without CAP_CHECKPOINT_RESTORE write = -1 EPERM
read = 7000
`
