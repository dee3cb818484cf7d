package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// sigactionCall matches rt_sigaction in the client's strace and where it
// was answered.
var sigactionCall = regexp.MustCompile(`rt_sigaction\(.*tid=\d+ where=(\w+)`)

// TestSigactionOnClient runs testdata/sigact/sigact.c natively and under
// do: its rt_sigaction queries are answered by the client from its copy
// of the signal table and its changes posted (sentry/client/sigactions.go),
// and what the program sees (old actions, masks without SIGKILL and
// SIGSTOP, 300 changes each followed by a query, delivery, a child's
// table, exec's reset, the errors the server gives) must be Linux's.
// Only the 7 calls the server refuses are forwarded.
func TestSigactionOnClient(t *testing.T) {
	tu.RequireRoot(t)
	src, err := os.ReadFile(filepath.Join("testdata", "sigact", "sigact.c"))
	if err != nil {
		t.Fatal(err)
	}
	prog := tu.StaticProgram(t, t.TempDir(), "sigact", string(src))
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	_, log := sandboxLogged(t, t.TempDir(), []string{"--strace"}, &want, prog)
	where := map[string]int{}
	for _, m := range sigactionCall.FindAllSubmatch(log, -1) {
		where[string(m[1])]++
	}
	t.Logf("rt_sigaction: %v", where)
	if where["forwarded"] > 7 || where["cached"] < 300 || where["posted"] < 300 {
		t.Errorf("rt_sigaction answered %v, want at most the 7 refused forwarded, at least 300 queries answered by the client and 300 changes posted", where)
	}
}
