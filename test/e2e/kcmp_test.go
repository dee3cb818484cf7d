package e2e

import "testing"

// TestKcmp runs testdata/kcmp/kcmp.c natively and under do: kcmp's
// answers for one process's fds (dup'ed, reopened, O_PATH), a fork
// child, clones sharing everything, only the address space, or the fd
// table and fs context, a thread, a vfork child before and after its
// exec, KCMP_EPOLL_TFD, zombies and the errors (ESRCH, EINVAL, EBADF,
// EPERM for another user's task), as Linux answers them; it was ENOSYS
// (LTP kcmp01-03).
func TestKcmp(t *testing.T) {
	stracedTestdata(t, "kcmp", "kcmp")
}
