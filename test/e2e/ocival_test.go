package e2e

import "testing"

// TestMountPropagationProgram compares mount propagation with Linux as
// runtime-tools' runtimetest checks linux.rootfsPropagation: a directory
// bound after `/` was bound under itself shows through that bind when
// `/` is shared (peers) or the bind is its slave, not when private; a
// bind from an unbindable mount is EINVAL; mountinfo's shared:, master:
// and unbindable fields.
func TestMountPropagationProgram(t *testing.T) {
	comparePrograms(t, "ocival", []string{"propagation"})
}
