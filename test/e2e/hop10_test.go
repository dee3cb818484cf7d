package e2e

import (
	"os"
	"runtime"
	"strconv"
	"strings"
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
	// (1.55 client sleeps a call in CI runs, with the server's channel
	// goroutine at 1.47; 0.3-0.9 and about 1.0 quiet): the waits for the
	// reply and for the next call are mirrors and grow alike, so the
	// client's extra sleeps are bounded by the server's plus 0.3 (at
	// least 1.3). Up to three runs are made and the best counts; an added
	// hand-off costs a sleep a call on its side in every run.
	var hop hopRound
	var localSleeps, load float64
	for attempt := range 3 {
		hop, localSleeps, _ = roundAgainstLocal(t, "hop", calls, calls)
		load = loadPerCPU(t)
		t.Logf("attempt %d, per call: local: client %.2f sleeps; forwarded: client %.2f sleeps %.1f µs CPU, server %.2f sleeps %.1f µs CPU, %.2f reads, %.2f writes; load %.1f a CPU",
			attempt, localSleeps, hop.client.sleeps, us(hop.client.cpu), hop.server.sleeps, us(hop.server.cpu), hop.server.reads, hop.server.writes, load)
		if hop.server.sleeps <= 1.8 && hop.client.sleeps-localSleeps <= clientBound(hop, load) {
			break
		}
	}
	if hop.server.sleeps > 1.8 {
		t.Errorf("the server sleeps %.2f times per forwarded call, want about one (its channel goroutine's wait)", hop.server.sleeps)
	}
	if extra := hop.client.sleeps - localSleeps; extra > clientBound(hop, load) {
		t.Errorf("a forwarded call costs the client %.2f sleeps more than a local one, want about one (the wait for the reply; at most %.2f with the server's %.2f at load %.1f a CPU)",
			extra, clientBound(hop, load), hop.server.sleeps, load)
	}
}

// clientBound is the most extra sleeps a forwarded call may cost the
// client in round r at load (runnable threads a CPU): 1.3, or the
// server's sleeps a call plus 0.3 when load made those more; on a
// machine running more than it has CPUs, 1.9: the client's sleeps then
// grow beyond the server's (1.42–1.83 in two CI runs of eight, with the
// server's 0.96–1.18), while a hand-off added to the client's side costs
// a sleep a call more than that.
func clientBound(r hopRound, load float64) float64 {
	b := max(1.3, r.server.sleeps+0.3)
	if load > 1 {
		b = max(b, 1.9)
	}
	return b
}

// loadPerCPU is the host's 1-minute load average over its CPUs.
func loadPerCPU(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		t.Fatalf("/proc/loadavg: %q", b)
	}
	l, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatalf("/proc/loadavg: %v", err)
	}
	return l / float64(runtime.NumCPU())
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
