package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// hostCounters are what a process did, summed over its threads: its read-
// and write-family system calls (/proc/PID/io) and the times its threads
// went to sleep (voluntary context switches: a futex wait, epoll_wait or
// blocking read each is one).
type hostCounters struct {
	reads, writes, sleeps int64
}

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

// perCall is the difference of two samples divided by n calls.
func (c hostCounters) perCall(before hostCounters, n int) (reads, writes, sleeps float64) {
	f := float64(n)
	return float64(c.reads-before.reads) / f, float64(c.writes-before.writes) / f, float64(c.sleeps-before.sleeps) / f
}

// TestForwardedCallHostSyscalls counts what one forwarded call that the
// server answers at once (umask) costs the client and the server in host
// system calls: one write of the call on the client and of the reply on
// the server, and on each side at most two reads of the other's message
// (one that finds it, and often one before it that fails with EAGAIN and
// parks the reader on the runtime's network poller). Counts, not times:
// the machine may be loaded.
func TestForwardedCallHostSyscalls(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "speed", "hop.c"))
	if err != nil {
		t.Fatal(err)
	}
	prog := tu.StaticProgram(t, dir, "hop", string(src))
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
	const calls = 3000
	cmd := exec.Command(tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir, "--", prog, strconv.Itoa(calls))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := bufio.NewReader(stdout)
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
	// The first round warms up (the program's start, thread and buffer
	// allocation); the second is measured.
	waitRound()
	c0, s0 := readHostCounters(t, clientPid), readHostCounters(t, serverPid)
	stdin.Write([]byte("\n"))
	waitRound()
	c1, s1 := readHostCounters(t, clientPid), readHostCounters(t, serverPid)
	stdin.Write([]byte("\n"))

	cr, cw, cs := c1.perCall(c0, calls)
	sr, sw, ss := s1.perCall(s0, calls)
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
