package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestUnshare runs testdata/unshare natively and under do: unshare(0),
// CLONE_FILES and CLONE_FS after clones that shared them (a close, a
// chdir or a umask in one task no longer reaching the other, kcmp telling
// the tables apart), CLONE_SYSVSEM (a lone undo list applied as at exit,
// a shared one kept), CLONE_THREAD, CLONE_SIGHAND and CLONE_VM with and
// without something to unshare, unknown flags and an unprivileged
// caller's namespace flags, as Linux answers them (it was ENOSYS; LTP
// unshare01-05).
func TestUnshare(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "unshare", "unshare")
}

// TestUnshareSandboxAnswers runs testdata/unshare's "sandbox" part, only
// under do (natively it would make namespaces): the sandbox has no
// namespaces but mount namespaces (TestMountNamespace), so a privileged
// caller's other namespace flags fail EINVAL, as a kernel without them
// answers (CLONE_NEWUSER too: its check needs no privilege); fd tables
// and fs contexts (which carry the mount namespace) are per process, so
// a thread of a multithreaded process cannot take its own (EINVAL),
// which it can once it is alone (docs/COMPATIBILITY.md).
func TestUnshareSandboxAnswers(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "unshare", testdataSource(t, "unshare", "unshare"))
	got, _ := sandboxLogged(t, t.TempDir(), nil, nil, prog, "sandbox")
	want := `root: unshare(CLONE_NEWUTS): -1 Invalid argument
root: unshare(CLONE_NEWIPC): -1 Invalid argument
root: unshare(CLONE_NEWNET): -1 Invalid argument
root: unshare(CLONE_NEWPID): -1 Invalid argument
root: unshare(CLONE_NEWCGROUP): -1 Invalid argument
root: unshare(CLONE_NEWTIME): -1 Invalid argument
root: unshare(CLONE_NEWUSER): -1 Invalid argument
threaded: unshare(CLONE_FILES): -1 Invalid argument
threaded: unshare(CLONE_FS): -1 Invalid argument
threaded: unshare(CLONE_NEWNS): -1 Invalid argument
alone again: unshare(CLONE_FILES|CLONE_FS): 0
`
	if got.Stdout != want {
		t.Errorf("sandbox's answers:\n%s\nwant:\n%s", got.Stdout, want)
	}
}
