package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// hostCounters are what a process did, summed over its threads: its read-
// and write-family system calls (/proc/PID/io), the times its threads
// went to sleep (voluntary context switches: a futex wait, epoll_wait or
// blocking read each is one), and its CPU time (user and system,
// /proc/PID/stat, in clock ticks of 10 ms: count thousands of calls).
type hostCounters struct {
	reads, writes, sleeps int64
	cpuTicks              int64
}

// clockTick is the unit of /proc/PID/stat's utime and stime (USER_HZ,
// 100 on Linux/amd64).
const clockTick = 10 * time.Millisecond

func readHostCounters(t *testing.T, pid int) hostCounters {
	t.Helper()
	var c hostCounters
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(io), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "syscr":
			c.reads = n
		case "syscw":
			c.writes = n
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command's closing parenthesis: state is the
	// first, utime the 12th and stime the 13th.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
		if f := strings.Fields(string(stat[i+1:])); len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			c.cpuTicks = ut + st
		}
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range tasks {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // the thread exited
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				c.sleeps += n
			}
		}
	}
	return c
}

// perCallCounters are hostCounters per call.
type perCallCounters struct {
	reads, writes, sleeps float64
	// cpu is the process's CPU time (user and system) per call.
	cpu time.Duration
}

// perCall is the difference of two samples divided by n calls.
func (c hostCounters) perCall(before hostCounters, n int) perCallCounters {
	f := float64(n)
	return perCallCounters{
		reads:  float64(c.reads-before.reads) / f,
		writes: float64(c.writes-before.writes) / f,
		sleeps: float64(c.sleeps-before.sleeps) / f,
		cpu:    time.Duration(c.cpuTicks-before.cpuTicks) * clockTick / time.Duration(n),
	}
}

// hopCounters runs testdata/speed/hop.c's op for calls rounds under do
// and returns the client's and the server's host counters per round, of
// a second pass (the first warms up).
func hopCounters(t *testing.T, op string, calls int) (client, server perCallCounters) {
	t.Helper()
	dir, prog, s := hopSetup(t)
	r := hopRoundOn(t, dir, prog, s, op, calls)
	return r.client, r.server
}

// TestForwardedCallHostSyscalls counts what one forwarded call that the
// server answers at once (getgroups) costs the client and the server in host
// system calls: one write of the call on the client and of the reply on
// the server, and on each side at most two reads of the other's message
// (one that finds it, and often one before it that fails with EAGAIN and
// parks the reader on the runtime's network poller). Counts, not times:
// the machine may be loaded.
func TestForwardedCallHostSyscalls(t *testing.T) {
	tu.RequireRoot(t)
	c, s := hopCounters(t, "hop", 3000)
	cr, cw, cs := c.reads, c.writes, c.sleeps
	sr, sw, ss := s.reads, s.writes, s.sleeps
	t.Logf("per forwarded call: client %.2f reads %.2f writes %.2f sleeps; server %.2f reads %.2f writes %.2f sleeps", cr, cw, cs, sr, sw, ss)
	// The margins cover the heartbeats (10 a second each way) and the
	// round's own stdin and stdout messages, on a slow machine. Sleeps
	// vary with the load (preemption, the runtime's idle threads,
	// systrap's own wake-ups on the client): their bound catches a
	// hand-off to another goroutine per call, not the last wake-up.
	for _, c := range []struct {
		what      string
		got, most float64
	}{
		{"client reads", cr, 2.2},
		{"client writes", cw, 1.2},
		{"client sleeps", cs, 6},
		{"server reads", sr, 2.2},
		{"server writes", sw, 1.2},
		{"server sleeps", ss, 6},
	} {
		if c.got > c.most {
			t.Errorf("%s per forwarded call: %.2f, want at most %.1f", c.what, c.got, c.most)
		}
	}
}

// TestIDCallsStayOnClient: getppid, getpgrp, getpgid(0), getsid(0) and
// getuid are answered by the client from the ids the server recorded
// (sentry/client/procids.go): a round of them sends nothing to the
// server. TestIDsFollowServer checks that the answers stay true.
func TestIDCallsStayOnClient(t *testing.T) {
	tu.RequireRoot(t)
	_, s := hopCounters(t, "ids", 3000)
	t.Logf("per round of 5 id calls: server %.3f reads %.3f writes", s.reads, s.writes)
	// A forwarded call is a read on the server; heartbeats and the
	// round's stdio are a few dozen in all.
	if s.reads > 0.1 || s.writes > 0.1 {
		t.Errorf("server reads %.3f, writes %.3f per round of id calls: want (almost) none, the client answers them", s.reads, s.writes)
	}
}

// TestIDsFollowServer compares testdata/speed/ids.c, which reads a
// process's ids after each kind of change to them (fork, setpgid by the
// parent and by itself, setsid, exec, the parent's exit, set*id), with a
// native run: the client answers these calls from records the server
// sends with every change, and must never answer with stale ids.
func TestIDsFollowServer(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "speed", "ids.c"))
	native := tu.Run(t, time.Minute, dir, "", prog)
	if native.ExitCode != 0 || strings.Contains(native.Stdout, "WRONG") {
		t.Fatalf("native run: exit %d\n%s%s", native.ExitCode, native.Stdout, native.Stderr)
	}
	for i := 0; i < 3; i++ {
		r := tu.Sandbox(t, time.Minute, dir, "", nil, prog)
		if r.ExitCode != 0 || r.Stdout != native.Stdout {
			t.Fatalf("run %d under do: exit %d\n%s\nwant:\n%s\nstderr:\n%s", i, r.ExitCode, r.Stdout, native.Stdout, r.Stderr)
		}
	}
}

// TestIDsAcrossServerKill: the ids the client caches stay true when the
// remote sentry is killed and restarted (the replay rebuilds the same
// ids), and a process forked afterwards gets its ids from the new
// server's records.
func TestIDsAcrossServerKill(t *testing.T) {
	tu.RequireRoot(t)
	dir, sockDir := t.TempDir(), t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "speed", "ids_recover.c"))
	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sockDir, "server", "server", "--gofer", g.Target)
	p := startPiped(t, tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir,
		"--grace", "5s", "--heartbeat", "50ms", "--debug-log", filepath.Join(sockDir, "client.log"), "--", prog)
	cmd, stdin, out, stderr := p.cmd, p.stdin, p.lines, p.stderr
	first, err := out.ReadString('\n')
	if err != nil || first != "ready\n" {
		t.Fatalf("program: %q %v; stderr:\n%s", first, err, stderr.String())
	}
	s.Cmd.Process.Kill()
	time.Sleep(100 * time.Millisecond)
	if tu.StartDaemonAt(t, s.Target, "server", "--gofer", g.Target) == nil {
		t.Fatal("server did not restart")
	}
	stdin.Write([]byte("go\n"))
	var rest strings.Builder
	out.WriteTo(&rest)
	if err := cmd.Wait(); err != nil || strings.Contains(rest.String(), "WRONG") || strings.Count(rest.String(), ": ok") != 6 {
		t.Errorf("after the kill: %v\n%s\nstderr:\n%s", err, rest.String(), stderr.String())
	}
	if log, _ := os.ReadFile(filepath.Join(sockDir, "client.log")); !bytes.Contains(log, []byte("recovered from a remote sentry failure")) {
		t.Errorf("no recovery logged")
	}
}

// TestPipelinedCloseLikeLinux compares testdata/speed/closes.c, whose
// closes the client sends without waiting for their replies when it knows
// the fd is open (sentry/client/pipeline.go), with a native run.
func TestPipelinedCloseLikeLinux(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "speed", "closes.c"))
	native := tu.Run(t, time.Minute, dir, "", prog)
	if native.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", native.ExitCode, native.Stdout, native.Stderr)
	}
	r := tu.Sandbox(t, time.Minute, dir, "", nil, prog)
	if r.ExitCode != 0 || r.Stdout != native.Stdout {
		t.Fatalf("under do: exit %d\n%s\nwant:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, native.Stdout, r.Stderr)
	}
}

// us is d in microseconds, for logs.
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
