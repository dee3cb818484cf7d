package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestBlockedFatalSignalsPending runs testdata/fatalsig/fatalsig.c
// natively and under do: a signal whose default action ends the process
// stays pending while blocked (sigwait and sigtimedwait take it, a
// daemon's way with SIGTERM; unblocking it then ends the process), a
// process-directed one goes to a thread that does not block it, and an
// unblocked one ends the process, in a blocking read too. The server,
// which does not know the masks, had ended the process at once.
func TestBlockedFatalSignalsPending(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "fatalsig", "fatalsig")
}
