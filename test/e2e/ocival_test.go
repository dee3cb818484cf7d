package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestMountPropagationProgram compares mount propagation with Linux as
// runtime-tools' runtimetest checks linux.rootfsPropagation: a directory
// bound after `/` was bound under itself shows through that bind when
// `/` is shared (peers) or the bind is its slave, not when private; a
// bind from an unbindable mount is EINVAL; mountinfo's shared:, master:
// and unbindable fields.
func TestMountPropagationProgram(t *testing.T) {
	comparePrograms(t, "ocival", []string{"propagation"})
}

// TestMountPropagationRecoveryKill kills the remote sentry after the
// program made / shared and bound it under itself: after recovery the
// root is still shared and the bind its peer, so a later bind shows
// through it (the output matches Linux).
func TestMountPropagationRecoveryKill(t *testing.T) {
	tu.RequireRoot(t)
	want, got, k := killAtPhase1(t, tu.StaticProgram(t, t.TempDir(), "proprecover", testdataSource(t, "ocival", "proprecover")))
	compare(t, want, got)
	if t.Failed() {
		t.Logf("server log:\n%s", k.server.Log)
	}
}
