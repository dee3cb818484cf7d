package e2e

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// hopRound is what one round of testdata/speed/hop.c cost per call.
type hopRound struct {
	client, server perCallCounters
	perCall        time.Duration
}

// hopSetup compiles testdata/speed/hop.c into a scratch directory and
// starts a gofer and a server for it.
func hopSetup(t *testing.T) (dir, prog string, s *tu.Daemon) {
	t.Helper()
	dir = t.TempDir()
	prog = tu.StaticProgramFile(t, dir, filepath.Join("testdata", "speed", "hop.c"))
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	return dir, prog, tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
}

// hopRoundOn runs testdata/speed/hop.c's op (prog, compiled) for calls
// rounds under do against the server s, with doArgs (CPU placement off),
// and returns the second round's cost per call (the first warms up:
// channels open).
func hopRoundOn(t *testing.T, dir, prog string, s *tu.Daemon, op string, calls int, doArgs ...string) hopRound {
	t.Helper()
	// The rounds count one call's costs: the client's CPU placement
	// (docs/ARCHITECTURE.md, "CPU placement") would mix in its measuring
	// windows on one CPU, were it made the default.
	args := append([]string{tu.Binary(t), "do", "--force-overlay=false", "--cpu-placement=false", "--server", s.Target, "--cwd", dir}, doArgs...)
	p := startPiped(t, append(args, "--", prog, op, strconv.Itoa(calls))...)
	cmd, stdin, lines, stderr := p.cmd, p.stdin, p.lines, p.stderr
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	waitRound := func() {
		t.Helper()
		got := make(chan error, 1)
		go func() { _, err := lines.ReadString('\n'); got <- err }()
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("program: %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("program did not finish its round; stderr:\n%s", stderr.String())
		}
	}
	clientPid, serverPid := cmd.Process.Pid, s.Cmd.Process.Pid
	waitRound()
	c0, s0 := readHostCounters(t, clientPid), readHostCounters(t, serverPid)
	start := time.Now()
	stdin.Write([]byte("\n"))
	waitRound()
	elapsed := time.Since(start)
	c1, s1 := readHostCounters(t, clientPid), readHostCounters(t, serverPid)
	stdin.Write([]byte("\n"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("do: %v; stderr:\n%s", err, stderr.String())
	}
	return hopRound{client: c1.perCall(c0, calls), server: s1.perCall(s0, calls), perCall: elapsed / time.Duration(calls)}
}

// TestChannelHop: with call channels (the default on a Unix socket), a
// forwarded call that the server answers at once (getgroups) costs no
// socket read or write on either side; with --channels=false it costs
// one write and a read or two on each. Socket and channel runs alternate
// on one server, so their times (logged, not checked: the machine may be
// loaded) see the same load.
func TestChannelHop(t *testing.T) {
	tu.RequireRoot(t)
	dir, prog, s := hopSetup(t)
	const calls = 3000
	var socket, channel []hopRound
	for i := 0; i < 3; i++ {
		socket = append(socket, hopRoundOn(t, dir, prog, s, "hop", calls, "--channels=false"))
		channel = append(channel, hopRoundOn(t, dir, prog, s, "hop", calls))
	}
	for i := range socket {
		for _, r := range []struct {
			name string
			r    hopRound
		}{{"socket", socket[i]}, {"channel", channel[i]}} {
			t.Logf("round %d %-7s: %6.1f µs a call; client %.2f reads %.2f writes %.2f sleeps; server %.2f reads %.2f writes %.2f sleeps",
				i, r.name, float64(r.r.perCall.Nanoseconds())/1000, r.r.client.reads, r.r.client.writes, r.r.client.sleeps,
				r.r.server.reads, r.r.server.writes, r.r.server.sleeps)
		}
	}
	// Heartbeats (10 a second each way) and the round's stdio are a few
	// dozen socket operations in all: far below one per call.
	for i, r := range channel {
		for _, c := range []struct {
			what string
			got  float64
		}{
			{"client reads", r.client.reads}, {"client writes", r.client.writes},
			{"server reads", r.server.reads}, {"server writes", r.server.writes},
		} {
			if c.got > 0.2 {
				t.Errorf("round %d over a channel: %s per call %.2f, want (almost) none", i, c.what, c.got)
			}
		}
	}
	for i, r := range socket {
		if r.client.writes < 0.9 || r.server.writes < 0.9 {
			t.Errorf("round %d with --channels=false: client writes %.2f, server writes %.2f per call, want one each (the socket)", i, r.client.writes, r.server.writes)
		}
	}
}
