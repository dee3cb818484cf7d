package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPostedExitGroup checks that children ending with exit_group, whose
// exits the client posts (sentry/client/postexit.go), look as natively
// to their parent (testdata/postexit: exit statuses through wait4 after
// fork and vfork, SIGCHLD, a vfork parent resuming after its child's
// _exit, EPIPE once the child holding a pipe's last reader exited), and
// that a child's exit waits for nothing: a round of fork+exit+wait4 and
// vfork+_exit+wait4 waits for 4 calls (the fork, the vfork, the two
// wait4s), not 6.
func TestPostedExitGroup(t *testing.T) {
	tu.RequireRoot(t)
	const rounds = 100
	one, many := roundsAsNatively(t, "postexit", rounds)
	perRound := float64(many-one) / float64(rounds-1)
	t.Logf("waited calls: %d with 1 round, %d with %d (%.2f a round)", one, many, rounds, perRound)
	// Below the 5 a round waits if one of its exit_groups is waited for,
	// above 4.1: under load another call waits now and then (10 more in
	// 100 rounds once, a CI run on a machine busy with other work).
	if perRound > 4.5 {
		t.Errorf("waited calls per round of fork+exit+wait4 and vfork+_exit+wait4: %.2f, want 4: the children's exit_group calls were waited for", perRound)
	}
}
