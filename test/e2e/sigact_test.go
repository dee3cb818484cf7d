package e2e

import (
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
	where := whereCounts(sigactionCall, stracedTestdata(t, "sigact", "sigact"))
	t.Logf("rt_sigaction: %v", where)
	if where["forwarded"] > 7 || where["cached"] < 300 || where["posted"] < 300 {
		t.Errorf("rt_sigaction answered %v, want at most the 7 refused forwarded, at least 300 queries answered by the client and 300 changes posted", where)
	}
}

// TestExecSignalActions runs testdata/execsig/execsig.c natively and
// under do: after execve (a fork child's and the process's own), caught
// signals are SIG_DFL again, ignored ones still SIG_IGN, and every
// action, an ignored one too, has lost its flags, restorer and mask, as
// Linux's flush_signal_handlers(current, 0) leaves them (the server kept
// an ignored signal's flags and mask). Before, it sets actions with
// sa_flags bits Linux 5.11+ clears (glibc's sign-extended SA_RESETHAND,
// every bit of a raw rt_sigaction) and reads them back byte for byte:
// at once (the client's copy of the table) and in a fork child (the
// server's table); both stored the full value.
func TestExecSignalActions(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "execsig", "execsig")
}
