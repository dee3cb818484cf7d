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
// unblocked one ends the process, in a blocking read too; an ignored
// signal (SIG_IGN, SIGCHLD's default) is queued while blocked, before or
// during the wait, and dropped without interrupting a wait when not, and
// the sandbox's init (whose default disposition ignores a signal) takes
// a blocked one with sigtimedwait, as tini does. The
// server, which does not know the masks, had ended the process at once
// or dropped the ignored signal (LTP tgkill03, rt_sigtimedwait01).
func TestBlockedFatalSignalsPending(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "fatalsig", "fatalsig")
}

// TestUnwritableSignalFrame runs testdata/sigframe/sigframe.c natively
// and under do: a signal whose frame cannot be written (a read-only
// alternate stack) becomes a SIGSEGV its handler takes on the normal
// stack, and the process lives on; when SIGSEGV's own frame cannot be,
// the process is killed by SIGSEGV. The client had killed the process
// at the first (LTP signal06 segfaulted).
func TestUnwritableSignalFrame(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "sigframe", "sigframe")
}
