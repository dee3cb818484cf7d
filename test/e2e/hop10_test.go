package e2e

import (
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestForwardedCallHandOffs counts the hand-offs of one forwarded call
// that the server answers at once (getgroups over a call channel) as the
// daemons' voluntary context switches (a thread that blocks), against a
// round of calls the client answers itself (getppid and the other ids,
// per call): the server's channel goroutine sleeps once per call, waiting
// for the next, and hands the call to no other goroutine; the client's
// task thread sleeps once more than for a local call, waiting for the
// reply. A hand-off added on either side (a worker, a socket reader, a
// goroutine woken to deliver the reply) is one more sleep per call.
// Counts, not times: the machine may be loaded, and the bounds leave
// room for the Go runtime's own sleeps.
func TestForwardedCallHandOffs(t *testing.T) {
	tu.RequireRoot(t)
	const calls = 3000
	// On a loaded machine threads also sleep where they would have spun
	// (1.55 client sleeps a call in one CI run, 0.3-0.9 quiet): up to
	// three runs are made and the best counts; an added hand-off costs a
	// sleep a call in every run.
	var hop hopRound
	var localSleeps float64
	for attempt := range 3 {
		hop, localSleeps, _ = roundAgainstLocal(t, "hop", calls, calls)
		t.Logf("attempt %d, per call: local: client %.2f sleeps; forwarded: client %.2f sleeps %.1f µs CPU, server %.2f sleeps %.1f µs CPU, %.2f reads, %.2f writes",
			attempt, localSleeps, hop.client.sleeps, us(hop.client.cpu), hop.server.sleeps, us(hop.server.cpu), hop.server.reads, hop.server.writes)
		if hop.server.sleeps <= 1.8 && hop.client.sleeps-localSleeps <= 1.3 {
			break
		}
	}
	if hop.server.sleeps > 1.8 {
		t.Errorf("the server sleeps %.2f times per forwarded call, want about one (its channel goroutine's wait)", hop.server.sleeps)
	}
	if extra := hop.client.sleeps - localSleeps; extra > 1.3 {
		t.Errorf("a forwarded call costs the client %.2f sleeps more than a local one, want about one (the wait for the reply)", extra)
	}
}

// roundAgainstLocal runs calls rounds of testdata/speed/hop.c's op and,
// on the same server first, localRounds rounds of "ids" (five calls the
// client answers itself a round): the op's round, and a local call's
// client sleeps and time.
func roundAgainstLocal(t *testing.T, op string, calls, localRounds int) (r hopRound, localSleeps float64, localPerCall time.Duration) {
	t.Helper()
	dir, prog, s := hopSetup(t)
	local := hopRoundOn(t, dir, prog, s, "ids", localRounds)
	r = hopRoundOn(t, dir, prog, s, op, calls)
	return r, local.client.sleeps / 5, local.perCall / 5
}
