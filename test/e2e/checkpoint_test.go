package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// What CONFIG_CHECKPOINT_RESTORE gates besides the System V next ids
// (TestSysvNextID) and kcmp (TestKcmp): each program in testdata/ckpt
// runs natively and in the sandbox and the two must agree.

// TestPrctlSetMM: prctl(PR_SET_MM)'s checks and PR_SET_MM_MAP_SIZE,
// without CAP_SYS_RESOURCE compared with a native run; with it in the
// sandbox only (a container's root may not have it), against Linux's
// answers: EINVAL for an address below mmap_min_addr and for an unknown
// option.
func TestPrctlSetMM(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "prctl_mm", testdataSource(t, "ckpt", "prctl_mm"))
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	if want.ExitCode != 0 {
		t.Fatalf("native run failed (%d): %s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	compare(t, want, tu.Sandbox(t, timeout, t.TempDir(), "", nil, prog))
	got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, prog, "cap")
	const capWant = `prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 0) = -1 EINVAL
prctl(PR_SET_MM, PR_SET_MM_ARG_START, 4096, 0, 0) = -1 EINVAL
prctl(PR_SET_MM, 99, 0, 0, 0) = -1 EINVAL
`
	if got.ExitCode != 0 || got.Stdout != capWant {
		t.Errorf("with CAP_SYS_RESOURCE: exit %d\ngot:\n%s\nwant (Linux's):\n%s%s", got.ExitCode, got.Stdout, capWant, got.Stderr)
	}
}
