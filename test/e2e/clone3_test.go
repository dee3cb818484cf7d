package e2e

import (
	"regexp"
	"testing"
)

// TestClone3 runs testdata/clone3/clone3.c natively and under do:
// clone3's fork-like children with their tid words, exit signals other
// than SIGCHLD and none, a thread on its own stack (stack + stack_size)
// with its own TLS, a CLONE_VM|CLONE_VFORK child on its own stack,
// CLONE_PIDFD beside CLONE_PARENT_SETTID, CLONE_CLEAR_SIGHAND, structs
// of each size, every refusal in Linux's order, and glibc's
// pthread_create and posix_spawn, which try clone3 first (it was
// ENOSYS, and glibc fell back to clone). The log must show glibc's
// thread and its spawn made by clone3.
func TestClone3(t *testing.T) {
	log := stracedTestdata(t, "clone3", "clone3")
	// The program's 11 children by raw clone3, glibc's thread and its
	// spawn (the failures return -1; the children's returns of 0 are
	// logged by no one: they start after the call).
	made := regexp.MustCompile(`clone3\([^\n]* = [1-9][0-9]* \(0x[0-9a-f]+\)[^\n]*where=forwarded`)
	if n := len(made.FindAll(log, -1)); n != 13 {
		t.Errorf("%d clone3 calls made a child in the client's log, want 13 (%q)", n, made)
	}
}
