package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestChroot runs testdata/chroot natively and under do: chroot(2)
// (ENOSYS before) into a scratch directory, with absolute paths, "..",
// symbolic links with absolute targets, getcwd's "(unreachable)" of a cwd
// left outside, /proc/<pid>/root and cwd read by the parent, a fork and
// exec under the root, a clone with CLONE_FS sharing it, climbs out, and
// the errors in Linux's order (EACCES before EPERM for a user without
// CAP_SYS_CHROOT). The program chroots only in children.
func TestChroot(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "chroot", "chroot")
}
