package e2e

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// fileLoopDaemons compiles testdata/srvcpu/fileloop.c and starts a gofer
// of / and a server over it.
func fileLoopDaemons(t *testing.T) (prog string, s, g *tu.Daemon) {
	t.Helper()
	dir := t.TempDir()
	prog = tu.StaticProgramFile(t, dir, filepath.Join("testdata", "srvcpu", "fileloop.c"))
	g = tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s = tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
	return prog, s, g
}

// fileLoopCounts runs testdata/srvcpu/fileloop.c's op for rounds rounds
// under do against the server s and its gofer g, and returns the
// server's and the gofer's host counters per round of the second pass
// (the first warms up: channels opened, names cached).
func fileLoopCounts(t *testing.T, prog string, s, g *tu.Daemon, op string, rounds int) (server, gofer perCallCounters) {
	t.Helper()
	dir := t.TempDir()
	p := startPiped(t, tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir, "--", prog, op, strconv.Itoa(rounds))
	defer func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}()
	waitPass := func() { p.waitLine(t, 2*time.Minute) }
	waitPass()
	s0, g0 := readHostCounters(t, s.Cmd.Process.Pid), readHostCounters(t, g.Cmd.Process.Pid)
	p.stdin.Write([]byte("\n"))
	waitPass()
	s1, g1 := readHostCounters(t, s.Cmd.Process.Pid), readHostCounters(t, g.Cmd.Process.Pid)
	p.stdin.Write([]byte("\n"))
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("do: %v; stderr:\n%s", err, p.stderr.String())
	}
	return s1.perCall(s0, rounds), g1.perCall(g0, rounds)
}

// TestFileCallSocketHops counts the socket reads and writes of the
// server and the gofer (/proc/PID/io: counts, not times, so the load does
// not matter) per open+close of an existing file and per create, write
// and close, against daemons on Unix sockets with call channels on both
// hops:
//   - the gofer reads nothing from its socket: the walk-open or create
//     that takes a donated fd goes on a call channel, its fd on the
//     channel's fd socket (before, each was a socket read, with a
//     hand-off to a worker, and the result a sendmsg);
//   - the server writes nothing to the client's socket: the posted
//     close's reply rides in the next open's channel reply
//     (Reply.posted_replies; before, a frame of its own).
func TestFileCallSocketHops(t *testing.T) {
	tu.RequireRoot(t)
	prog, s, g := fileLoopDaemons(t)
	const rounds = 500
	for _, tc := range []struct {
		op string
		// The server writes the created files' data through their
		// donated fds: one write a round.
		serverWrites float64
	}{
		{"openclose", 0},
		{"create", 1},
	} {
		t.Run(tc.op, func(t *testing.T) {
			server, gofer := fileLoopCounts(t, prog, s, g, tc.op, rounds)
			t.Logf("per round: server %.2f reads %.2f writes %.2f sleeps; gofer %.2f reads %.2f writes %.2f sleeps",
				server.reads, server.writes, server.sleeps, gofer.reads, gofer.writes, gofer.sleeps)
			// Heartbeats, the flusher's pushes and the like are a few
			// dozen in all: far below one a round.
			if gofer.reads > 0.3 {
				t.Errorf("the gofer read its socket %.2f times a round, want none (calls on call channels)", gofer.reads)
			}
			if server.writes > tc.serverWrites+0.3 {
				t.Errorf("the server wrote %.2f times a round, want %v (no reply frame of its own for the posted close)", server.writes, tc.serverWrites)
			}
		})
	}
}
