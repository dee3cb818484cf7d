package e2e

import (
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPostedCallsInBatches counts the socket writes a run of posted
// calls costs the client and the server (testdata/postbatch/posted.c: a
// round of four writes behind and one getgroups, which the client waits
// for), with posted calls sent and answered in batches (the default) and
// one at a time (do --post-batch=false), alternating on one server so
// that both see the same load, with call channels (the default) and
// without. With batches, the four go in one frame (before the waited
// call, which takes a call channel; on the socket, in its frame) and
// their replies come back in one (on the socket, in the waited call's
// reply's frame); one at a time, each costs a frame each way. The
// server's writes also count its writes of the file's data (through a
// donated fd): the test compares the two runs' difference. The batched
// runs lengthen the queue's timer (--post-delay) past any round, so that
// a round descheduled for more than the default 2 ms on a loaded machine
// is not cut in two by it: what is counted is the batching, not the
// timer (transport's TestPostedLoopBatches counts the timer's partial batches).
func TestPostedCallsInBatches(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "postbatch", "posted.c"))
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
	const rounds, posted = 1000, 4
	for i, channels := range []string{"--channels=true", "--channels=false", "--channels=true", "--channels=false"} {
		single := hopRoundOn(t, t.TempDir(), prog, s, "writes", rounds, "--post-batch=false", channels)
		batched := hopRoundOn(t, t.TempDir(), prog, s, "writes", rounds, channels, "--post-delay=1s")
		// On the socket the waited call costs a frame each way of its
		// own, batched or not.
		extra := 0.0
		if channels == "--channels=false" {
			extra = 1
		}
		for _, r := range []struct {
			name string
			r    hopRound
		}{{"one at a time", single}, {"batched", batched}} {
			t.Logf("round %d %s %-13s: %6.1f µs a round; client %.2f writes %.2f sleeps; server %.2f reads %.2f writes %.2f sleeps",
				i, channels, r.name, float64(r.r.perCall.Nanoseconds())/1000, r.r.client.writes, r.r.client.sleeps,
				r.r.server.reads, r.r.server.writes, r.r.server.sleeps)
		}
		// The client's write count also holds the Go runtime's wakeups
		// of its network poller (an eventfd write when a timer, such as
		// the batch's, is armed while the poller sleeps): 0.1–0.35 a
		// round on a loaded machine, fewer one at a time. So the batch is
		// checked by the frames it saves: all but one of the four posted
		// calls' (and, on the socket, the waited call's own, which rides
		// in the batch's frame); a batch cut in two would save one less.
		if saved, want := single.client.writes-batched.client.writes, posted-1+extra-0.5; saved < want {
			t.Errorf("round %d: the client's writes went from %.2f a round one at a time to %.2f batched (%.2f fewer), want at least %.1f fewer (the batch in one frame)",
				i, single.client.writes, batched.client.writes, saved, want)
		}
		if single.client.writes < posted+extra-0.5 {
			t.Errorf("round %d one at a time: client writes %.2f a round, want %v (a frame per call)", i, single.client.writes, posted+extra)
		}
		if saved := single.server.writes - batched.server.writes; saved < posted-1.5 {
			t.Errorf("round %d: the server's writes went from %.2f a round one at a time to %.2f batched, want %d replies in one frame (%d fewer writes)",
				i, single.server.writes, batched.server.writes, posted, posted-1)
		}
		// A frame costs the server's reader one read, and one more that
		// finds the socket drained (Go's poller); one at a time, frames
		// sent back to back may be read together on a quiet machine, so
		// the reads of the two runs are not compared. On the socket
		// (--channels=false) about every other round also costs a third
		// read (2.37–2.50 a round in 9 runs on 2 CPUs, at 3eea8291 as at
		// 7b0ac459; why is not known yet): the bound is 3, below the 4
		// of a batch cut in two frames.
		if batched.server.reads > 3 {
			t.Errorf("round %d batched: the server's reads %.2f a round, want the %d calls read in one frame (a read and a drained one)",
				i, batched.server.reads, posted)
		}
	}
}
