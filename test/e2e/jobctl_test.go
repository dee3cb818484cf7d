package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// jobctlPrograms are the C programs of testdata/jobctl (stop signals, job
// control on a pty made in the sandbox, the permission to send a signal,
// ETXTBSY), each compared with a native run.
var jobctlPrograms = []string{"stop", "ptyjobs", "killperm", "txtbsy"}

// TestJobControlPrograms runs the stop-signal programs natively and in
// the sandbox (both platforms: stopping threads is the client's work).
func TestJobControlPrograms(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "jobctl", jobctlPrograms, platforms...)
}

// TestJobControlAcrossServerKill kills the remote sentry (kill -9, then a
// restart on the same address) after each step of testdata/jobctl/
// recover.c: a child stopped and waited for, then continued and not yet
// waited for, then stopped again and not yet waited for, and twice in a
// loop of stops and continues each waited for. After each recovery the
// child is still stopped (its threads stand still, /proc says T), every
// event is reported once (none lost or doubled by a call in flight), and
// the output matches a native run.
func TestJobControlAcrossServerKill(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.StaticProgram(t, t.TempDir(), "recover", testdataSource(t, "jobctl", "recover"))
	nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", bin)
	k := startKillable(t, sockDir, sandboxDir, "5s", bin)
	progress := func() int {
		b, _ := os.ReadFile(filepath.Join(sandboxDir, "progress"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	// Steps 1-3, then twice during the loop of step 4 (its rounds are
	// numbered from 100).
	for _, step := range []int{1, 2, 3, 140, 220} {
		if !k.waitUntil(func() bool { return progress() >= step }) {
			t.Fatalf("the program ended or stalled before step %d", step)
		}
		t.Logf("killing the server at step %d", progress())
		k.killServer()
	}
	got := k.wait()
	if n := k.recoveries(); n < 5 {
		t.Errorf("%d recoveries logged, want 5", n)
	}
	compare(t, want, got)
}

// terminalSession is the master side of a pty whose slave is an
// application's terminal: it records what the terminal shows and types
// into it.
type terminalSession struct {
	t      *testing.T
	master *os.File
	mu     sync.Mutex
	out    bytes.Buffer // everything the terminal showed
	// done is closed when the slave side is gone (the master reads EIO).
	done chan struct{}
}

func newTerminalSession(t *testing.T, master *os.File) *terminalSession {
	s := &terminalSession{t: t, master: master, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { master.Close() })
	return s
}

// startTerminalSession runs argv with a new pty as its controlling
// terminal (a session of its own, as a terminal emulator starts a shell).
func startTerminalSession(t *testing.T, env []string, argv ...string) *terminalSession {
	t.Helper()
	master, slave := openPty(t)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return newTerminalSession(t, master)
}

func (s *terminalSession) transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// await waits until the terminal has shown want n times in all; with
// again it types again (Ctrl-Z, whose target may not be in the
// foreground yet) every 500 ms meanwhile.
func (s *terminalSession) await(want string, n int, again string) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	last := time.Time{}
	for strings.Count(s.transcript(), want) < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("the terminal never showed %q (%d times); it shows:\n%s", want, n, s.transcript())
		}
		if again != "" && time.Since(last) > 500*time.Millisecond {
			s.master.WriteString(again)
			last = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *terminalSession) typeLine(line string) {
	s.t.Helper()
	if _, err := s.master.WriteString(line + "\n"); err != nil {
		s.t.Fatal(err)
	}
}

// TestJobControlInTerminal drives busybox ash with job control (sh -i) in
// a pty, natively and under do: Ctrl-Z stops the foreground job, jobs
// lists it, fg continues it to its end; a background job that reads the
// terminal is stopped by SIGTTIN, and one that writes to it after stty
// tostop by SIGTTOU. The shell's reports must be the same in both runs.
func TestJobControlInTerminal(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	bb := tu.Busybox
	runs := map[string][]string{
		"native":  {bb, "sh", "-i"},
		"sandbox": {bin, "do", "--", bb, "sh", "-i"},
	}
	reports := map[string][]string{}
	for name, argv := range runs {
		t.Run(name, func(t *testing.T) {
			s := startTerminalSession(t, []string{"PS1=$ ", "ENV=", "HOME=/"}, argv...)
			reports[name] = s.jobControlScript()
		})
	}
	if len(reports) < 2 {
		return // one run alone (-run): nothing to compare
	}
	if !t.Failed() && !slices.Equal(reports["native"], reports["sandbox"]) {
		t.Errorf("job reports differ\nnative:  %q\nsandbox: %q", reports["native"], reports["sandbox"])
	}
	for _, want := range wantJobReports {
		if !slices.ContainsFunc(reports["native"], func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("native run shows no %q: %q", want, reports["native"])
		}
	}
}

// wantJobReports are what jobControlScript makes busybox ash report.
var wantJobReports = []string{"Stopped /bin/busybox sleep 3", "^Zslept-148", "Stopped (tty input)", "Killed", "Stopped (tty output)"}

// jobControlScript types job-control commands into an interactive busybox
// ash at the other end of s (Ctrl-Z on a foreground job, jobs, fg, a
// background read, a background write after stty tostop), waits for the
// shell to exit and returns its job reports.
func (s *terminalSession) jobControlScript() []string {
	t := s.t
	t.Helper()
	bb := tu.Busybox
	s.typeLine("echo ready-$((1+1))")
	s.await("ready-2", 1, "")
	s.typeLine("echo started-$((2+1)); " + bb + " sleep 3; echo slept-$?")
	s.await("started-3", 1, "")
	s.await("Stopped", 1, "\x1a")
	s.typeLine("jobs; echo jobs-$((3+1))")
	s.await("jobs-4", 1, "")
	s.typeLine("fg; echo fg-$((4+1))")
	s.await("fg-5", 1, "")
	s.typeLine(bb + " cat & " + bb + " sleep 1; jobs; echo ttin-$((5+1))")
	s.await("ttin-6", 1, "")
	s.typeLine("kill -9 %1; " + bb + " sleep 1; echo killed-$((6+1))")
	s.await("killed-7", 1, "")
	s.await("Killed", 1, "")
	s.typeLine(bb + " stty tostop; (echo bg-output) & " + bb + " sleep 1; jobs; echo ttou-$((7+1))")
	s.await("ttou-8", 1, "")
	s.typeLine("kill -9 %1; " + bb + " sleep 1; " + bb + " stty -tostop; exit")
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("the shell did not exit; the terminal shows:\n%s", s.transcript())
	}
	t.Logf("terminal:\n%s", s.transcript())
	return jobReports(s.transcript())
}

// jobReports are the lines of a transcript in which the shell reports a
// job ("[1]+ Stopped ...", spacing normalised, cut after the job's
// command: the terminal's echo of the next line typed may follow it) or
// a stopped foreground command's status (^Z then slept-N). The lines the
// terminal echoes are left out: the sandbox's terminal also echoes
// what the shell echoes itself (docs/COMPATIBILITY.md).
func jobReports(transcript string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(transcript, "\r", ""), "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if !strings.HasPrefix(l, "[") && !strings.HasPrefix(l, "^Z") {
			continue
		}
		for strings.HasPrefix(l, "^Z^Z") { // Ctrl-Z typed again until the job was in the foreground
			l = l[2:]
		}
		for _, cmd := range []string{"/bin/busybox sleep 3", "/bin/busybox cat", "(echo bg-output)"} {
			if i := strings.Index(l, cmd); i >= 0 {
				l = l[:i+len(cmd)]
			}
		}
		out = append(out, l)
	}
	return out
}

// TestOCITerminalJobControl runs the same job-control script in a
// terminal container, whose console (the pty master the runtime sends to
// --console-socket, as containerd's shim asks) is where the keys are
// typed, and compares the shell's reports with a native run.
func TestOCITerminalJobControl(t *testing.T) {
	tu.RequireRoot(t)
	native := startTerminalSession(t, []string{"PS1=$ ", "ENV=", "HOME=/"}, tu.Busybox, "sh", "-i").jobControlScript()
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-i"}
		s.Process.Env = append(s.Process.Env, "PS1=$ ", "ENV=", "HOME=/")
	})
	sock := filepath.Join(r.dir, "console.sock")
	masterCh := consoleMasters(t, sock)
	if out, code := r.run(nil, "create", "--bundle", bundle, "--console-socket", sock, "jobs"); code != 0 {
		t.Fatalf("create: exit %d %s %s", code, out, r.lastError())
	}
	master := <-masterCh
	if master == nil {
		t.Fatal("no pty master on the console socket")
	}
	s := newTerminalSession(t, master)
	r.must("start", "jobs")
	got := s.jobControlScript()
	if !slices.Equal(native, got) {
		t.Errorf("job reports differ\nnative:    %q\ncontainer: %q", native, got)
	}
	r.run(nil, "delete", "--force", "jobs")
}
