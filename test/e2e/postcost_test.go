package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPostedCallCosts counts what a posted call (umask in a loop: the
// client answers it and sends it later, in a batch) costs the daemons
// beyond a call the client answers itself (getppid and the other ids):
// the batch's frame each way (one socket write on each side per batch of
// up to 64 calls, not per call) and the wake-ups of the goroutines that
// carry it (the server's socket reader and worker, the client's timer
// and reader), also per batch. Counts, not times: a loaded machine makes
// the loop slower, and so its batches smaller (the queue leaves within
// 2 ms), which the bounds allow for. The client's sleeps are logged, not
// checked: most are its task thread's waits for the application's stub,
// local or posted, and how many depends on the load.
func TestPostedCallCosts(t *testing.T) {
	tu.RequireRoot(t)
	dir, prog, s := hopSetup(t)
	const calls = 20000
	local := hopRoundOn(t, dir, prog, s, "ids", calls/5)
	posted := hopRoundOn(t, dir, prog, s, "umask", calls)
	// "ids" makes five calls per round.
	localSleeps := local.client.sleeps / 5
	t.Logf("per call: local: client %.3f sleeps; posted: client %.3f sleeps %.4f writes %.4f reads, server %.3f sleeps %.4f reads %.4f writes; %.1f µs a posted call, %.1f a local one",
		localSleeps, posted.client.sleeps, posted.client.writes, posted.client.reads, posted.server.sleeps, posted.server.reads, posted.server.writes,
		float64(posted.perCall.Nanoseconds())/1000, float64(local.perCall.Nanoseconds())/5000)
	for _, c := range []struct {
		what string
		got  float64
	}{
		{"client writes (batches sent)", posted.client.writes},
		{"server writes (batches of replies)", posted.server.writes},
		{"server reads", posted.server.reads},
	} {
		if c.got > 1.0/16 {
			t.Errorf("posted umask: %s per call %.4f, want a batch of 16 calls or more each", c.what, c.got)
		}
	}
	if posted.server.sleeps > 0.25 {
		t.Errorf("posted umask: the server sleeps %.3f times per call, want a few per batch", posted.server.sleeps)
	}
}
