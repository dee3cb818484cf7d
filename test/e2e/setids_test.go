package e2e

import (
	"strconv"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSetresNoOps runs testdata/setids/setids.c natively and in a
// sandbox: setresuid and setresgid that change no id, then changes and
// the fs ids (setfsuid of an invalid id only reports, a set*id call
// resets a differing fs id only when it names the effective one), say
// the same. The no-ops, 3 a round as make's children make 2 before each
// exec, are answered by the client from the process's record: 200 rounds
// wait for no more calls than 1.
func TestSetresNoOps(t *testing.T) {
	tu.RequireRoot(t)
	const rounds = 200
	one, many := roundsAsNatively(t, "setids", rounds)
	t.Logf("waited calls: %d with 1 round, %d with %d", one, many, rounds)
	if many-one > 10 {
		t.Errorf("waited calls: %d with %d rounds against %d with 1: the %d no-op setres*id calls were sent", many, rounds, one, 3*(rounds-1))
	}
}

// roundsAsNatively runs testdata program name with one argument, rounds,
// natively and in a sandbox and compares what they say; then it returns
// the calls the sandbox waited for with 1 round and with rounds, for a
// test's bound on what a round costs.
func roundsAsNatively(t *testing.T, name string, rounds int) (one, many int) {
	t.Helper()
	prog := tu.StaticProgram(t, t.TempDir(), name, testdataSource(t, name, name))
	want := tu.Run(t, timeout, t.TempDir(), "", prog, strconv.Itoa(rounds))
	if want.ExitCode != 0 {
		t.Fatalf("natively: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	dir := t.TempDir()
	got := tu.Sandbox(t, timeout, dir, "", []string{"--cwd", dir}, prog, strconv.Itoa(rounds))
	compare(t, want, got)
	one, _ = forwardedCalls(t, dir, prog, "1")
	many, _ = forwardedCalls(t, dir, prog, strconv.Itoa(rounds))
	return one, many
}
