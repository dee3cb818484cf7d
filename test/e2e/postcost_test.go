package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPostedCallCosts counts what a posted call (umask in a loop: the
// client answers it and sends it later, in a batch) costs the daemons
// beyond a call the client answers itself (getppid and the other ids):
// the batch's frame each way (one socket write on each side per batch,
// not per call) and the wake-ups of the goroutines that carry it (the
// server's socket reader, the client's timer and reader), also per
// batch. A batch closes at 64 calls or 2 ms after its first, so a loop
// of N calls taking T makes at most N/64 + T/2ms batches (a loaded
// machine makes the loop slower, and so its batches smaller): the
// bounds are counts per such batch. The client's sleeps are logged, not
// checked: most are its task thread's waits for the application's stub,
// local or posted, and how many depends on the load.
func TestPostedCallCosts(t *testing.T) {
	tu.RequireRoot(t)
	const calls = 20000
	posted, localSleeps, localPerCall := roundAgainstLocal(t, "umask", calls, calls/5)
	// Batches per call, at most (see above), and heartbeats (10 a
	// second each way).
	batches := 1.0/64 + posted.perCall.Seconds()/0.002
	beats := posted.perCall.Seconds() * 10
	t.Logf("per call: local: client %.3f sleeps; posted: client %.3f sleeps %.4f writes %.4f reads %.1f µs CPU, server %.3f sleeps %.4f reads %.4f writes %.1f µs CPU; %.1f µs a posted call, %.1f a local one; at most %.4f batches",
		localSleeps, posted.client.sleeps, posted.client.writes, posted.client.reads, us(posted.client.cpu), posted.server.sleeps, posted.server.reads, posted.server.writes, us(posted.server.cpu),
		float64(posted.perCall.Nanoseconds())/1000, float64(localPerCall.Nanoseconds())/1000, batches)
	for _, c := range []struct {
		what     string
		got, max float64
	}{
		{"client writes (batches sent)", posted.client.writes, 1.2*batches + beats},
		{"server writes (batches of replies)", posted.server.writes, 1.2*batches + beats},
		// A frame and the read that finds the socket drained.
		{"server reads", posted.server.reads, 2.4*batches + 2*beats},
		// The reader's and the runtime's (netpoller, sysmon): 1.6-4 a
		// batch, 7.3 when a worker ran each batch.
		{"server sleeps", posted.server.sleeps, 5.5 * (batches + beats)},
	} {
		if c.got > c.max {
			t.Errorf("posted umask: %s per call %.4f, want at most %.4f (%.4f batches a call at most)", c.what, c.got, c.max, batches)
		}
	}
}
