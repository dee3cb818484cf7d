package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// Options configure one run of a workload.
type Options struct {
	// Binary is the runsc-decoupled binary; Busybox the static busybox.
	Binary, Busybox string
	// Dir is an empty directory for sockets, logs and the workload's files.
	Dir string
	// Kills is how many times the victim is killed with SIGKILL during the
	// run; Interval is the mean time between kills. A workload with a
	// conductor (Workload.Conduct) makes its own faults when Kills > 0.
	Kills    int
	Interval time.Duration
	// Victim is "server" or "gofer".
	Victim string
	// Failover starts a second server; the first is killed once and never
	// restarted, so the client must move to the second.
	Failover bool
	// Seed makes the kill times reproducible.
	Seed int64
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Logf reports progress (kills, restarts).
	Logf func(format string, args ...any)
	// Pod is the network namespace a workload with PodPeers runs in
	// (its servers then serve --network sandbox).
	Pod *tu.VethNS
	// Native runs the workload on the host (in Pod's namespace for a
	// network workload), with no sandbox and no daemons: the reference.
	Native bool
}

// Outcome is what a run produced.
type Outcome struct {
	Stdout   string
	Stderr   string
	ExitCode int
	// Files describes every file the workload left: path, mode, SHA-256.
	Files string
	// Kills is how many kills happened before the workload finished.
	Kills    int
	Duration time.Duration
	// ClientLog is the client's debug log (recoveries, pauses).
	ClientLog string
	// PeerRetries is how many requests the outside client of a network
	// workload (PodPeers) had to send again.
	PeerRetries int
	// GoferFDs is how many fds the gofer had open before the workload
	// started and once it ended; a server killed with -9 must not leave
	// its gofer handles behind.
	GoferFDsBefore, GoferFDsAfter int
}

// daemon is a gofer or server process the harness can kill and restart.
type daemon struct {
	args []string
	sock string
	log  *os.File
	// heap is the daemon's --profile-heap file: on SIGUSR2 it writes its
	// goroutines, grouped by stack, to heap + ".txt" (a hung run's
	// stacks.log).
	heap string
	mu   sync.Mutex
	cmd  *exec.Cmd
	// exited is closed when cmd has exited.
	exited chan struct{}
}

func (d *daemon) start(bin string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	args := d.args
	if d.heap != "" {
		args = append(append([]string(nil), args...), "--profile-heap", d.heap)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %v: %w", d.args, err)
	}
	d.cmd = cmd
	exited := make(chan struct{})
	d.exited = exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	if err := transport.WaitListening(transport.Target{Network: "unix", Address: d.sock}, 10*time.Second, nil); err != nil {
		return fmt.Errorf("%v: %w", d.args, err)
	}
	return nil
}

// askStacks asks a running daemon to write its goroutines (SIGUSR2).
func (d *daemon) askStacks() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd != nil && d.heap != "" && d.cmd.Process.Signal(syscall.SIGUSR2) == nil
}

// writeStacks writes the goroutines of the daemons still running, grouped
// by stack, to dir's stacks.log: where a hung run's daemons wait.
func writeStacks(dir string, ds []*daemon) {
	asked := false
	for _, d := range ds {
		asked = d.askStacks() || asked
	}
	if !asked {
		return
	}
	time.Sleep(time.Second) // each writes its profile on its own goroutine
	var b bytes.Buffer
	for _, d := range ds {
		txt, err := os.ReadFile(d.heap + ".txt")
		if err != nil {
			continue
		}
		if i := bytes.Index(txt, []byte("goroutine profile:")); i >= 0 {
			fmt.Fprintf(&b, "== %s\n%s\n", d.args[0]+" "+filepath.Base(d.sock), txt[i:])
		}
	}
	os.WriteFile(filepath.Join(dir, "stacks.log"), b.Bytes(), 0o644)
}

// fds counts the daemon's open fds (-1 if it is not running).
func (d *daemon) fds() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return -1
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// settledFDs waits (up to OrphanLinger and 5 s) for the daemon's fd count to drop to at
// most limit and returns the last count.
func (d *daemon) settledFDs(limit int) int {
	deadline := time.Now().Add(OrphanLinger + 5*time.Second)
	for {
		n := d.fds()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		d.cmd.Process.Kill()
		// Until the process is gone its socket still accepts, and a
		// successor would find the address in use.
		<-d.exited
		d.cmd = nil
	}
}

// Run runs w once under o.
func Run(ctx context.Context, w Workload, o Options) (Outcome, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Victim == "" {
		o.Victim = "server"
	}
	work := filepath.Join(o.Dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return Outcome{}, err
	}
	if err := Prepare(work, w); err != nil {
		return Outcome{}, err
	}
	if w.Disk != nil {
		unmount, err := tu.MountTmpfs(filepath.Join(work, w.Disk.Dir), fmt.Sprintf("size=%d,mode=755", w.Disk.Size))
		if err != nil {
			return Outcome{}, fmt.Errorf("%s's disk: %w", w.Name, err)
		}
		// After the files are described.
		defer unmount()
	}
	if w.Pod != nil && o.Pod == nil {
		return Outcome{}, fmt.Errorf("%s is a network workload: it needs Options.Pod", w.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var pod *podRun
	var err error
	if w.Pod != nil {
		if pod, err = startPod(ctx, o.Pod, w.Pod, cancel); err != nil {
			return Outcome{}, err
		}
		defer func() {
			cancel()
			pod.stop()
		}()
	}
	logf, err := os.Create(filepath.Join(o.Dir, "daemons.log"))
	if err != nil {
		return Outcome{}, err
	}
	defer logf.Close()
	sock := func(n string) string { return filepath.Join(o.Dir, n+".sock") }
	heap := func(n string) string { return filepath.Join(o.Dir, n+".heap") }
	// The daemons log at their default level (warn) unless
	// CHAOS_DAEMON_LOG_LEVEL says otherwise.
	var daemonLog []string
	if l := os.Getenv("CHAOS_DAEMON_LOG_LEVEL"); l != "" {
		daemonLog = []string{"--log-level", l}
	}
	gofer := &daemon{args: append([]string{"gofer", "--listen", "unix:" + sock("gofer"), "--root", "/", "--orphan-linger", OrphanLinger.String()}, daemonLog...),
		sock: sock("gofer"), log: logf, heap: heap("gofer")}
	serverArgs := func(name string) []string {
		a := append([]string{"server", "--listen", "unix:" + sock(name), "--gofer", "unix:" + sock("gofer")}, daemonLog...)
		if os.Getenv("CHAOS_SERVER_STRACE") != "" {
			// Every call each server ran, with its seq, in the
			// daemons' log (the level must let info through).
			a = append(a, "--strace")
			if len(daemonLog) == 0 {
				a = append(a, "--log-level", "info")
			}
		}
		if w.Pod != nil {
			a = append(a, "--network", "sandbox")
		}
		return a
	}
	servers := []*daemon{{args: serverArgs("a"), sock: sock("a"), log: logf, heap: heap("a")}}
	if o.Failover {
		servers = append(servers, &daemon{args: serverArgs("b"), sock: sock("b"), log: logf, heap: heap("b")})
	}
	all := append([]*daemon{gofer}, servers...)
	defer func() {
		for _, d := range all {
			d.kill()
		}
	}()
	if o.Native {
		all = nil
	}
	for _, d := range all {
		if err := d.start(o.Binary); err != nil {
			return Outcome{}, err
		}
	}
	goferFDs := gofer.fds()
	var targets []string
	for _, s := range servers {
		targets = append(targets, "unix:"+s.sock)
	}

	clientLog := filepath.Join(o.Dir, "client.log")
	level := "info"
	if l := os.Getenv("CHAOS_CLIENT_LOG_LEVEL"); l != "" {
		level = l
	}
	argv := []string{o.Binary, "do", "--server", strings.Join(targets, ","), "--cwd", work,
		"--debug-log", clientLog, "--log-level", level}
	if os.Getenv("CHAOS_STRACE") != "" {
		argv = append(argv, "--strace")
	}
	if w.Pod != nil {
		argv = append(argv, "--network=sandbox", "--netns", o.Pod.Path())
	}
	argv = append(argv, w.DoFlags...)
	argv = append(argv, "--", o.Busybox, "sh", "-c", w.Script)
	if o.Native {
		argv = []string{o.Busybox, "sh", "-c", w.Script}
		if w.Pod != nil {
			argv = append([]string{"ip", "netns", "exec", o.Pod.Name}, argv...)
		}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if pod != nil {
		cmd.Env = append(os.Environ(), pod.env...)
	}
	cmd.Dir = work
	stdout := newWatchedOutput()
	var stderr bytes.Buffer
	var stdin io.WriteCloser
	if w.Conduct != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return Outcome{}, err
		}
	} else {
		cmd.Stdin = strings.NewReader(w.Stdin)
	}
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	// A run that times out: the daemons' stacks while the client still
	// waits on them, then the client killed.
	cmd.Cancel = func() error {
		writeStacks(o.Dir, all)
		return cmd.Process.Kill()
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Outcome{}, err
	}
	finished := make(chan struct{})
	kills := 0
	var conductErr error
	var killerDone sync.WaitGroup
	killerDone.Add(1)
	go func() {
		defer killerDone.Done()
		rng := rand.New(rand.NewSource(o.Seed))
		if w.Conduct != nil {
			c := &Conductor{Dir: work, Faults: o.Kills > 0 && !o.Native, Rand: rng, Logf: o.Logf,
				bin: o.Binary, clientLog: clientLog, stdin: stdin, out: stdout, gofer: gofer, server: servers[0], ended: finished, start: start}
			conductErr = w.Conduct(c)
			kills = c.kills
			stdin.Close()
			if conductErr != nil {
				cancel()
			}
			return
		}
		// Kills start once the client has its first session: a server
		// absent when do starts is a start failure, reported at once,
		// not a failure to recover from.
		if !o.Native && !waitLogLine(clientLog, "connected to the remote sentry", finished) {
			return
		}
		for kills < o.Kills {
			wait := time.Duration(float64(o.Interval) * (0.5 + rng.Float64()))
			select {
			case <-finished:
				return
			case <-time.After(wait):
			}
			victim := servers[0]
			if o.Victim == "gofer" {
				victim = gofer
			}
			victim.kill()
			kills++
			o.Logf("%s: kill -9 %s (%d/%d) at %v", w.Name, o.Victim, kills, o.Kills, time.Since(start).Round(time.Millisecond))
			if o.Failover {
				return // the first server stays dead
			}
			time.Sleep(time.Duration(rng.Intn(50)) * time.Millisecond)
			if err := victim.start(o.Binary); err != nil {
				o.Logf("%s: restart %s: %v", w.Name, o.Victim, err)
				return
			}
		}
	}()
	err = cmd.Wait()
	close(finished)
	killerDone.Wait()
	out := Outcome{Stdout: stdout.String(), Stderr: stderr.String(), Kills: kills, Duration: time.Since(start)}
	out.GoferFDsBefore = goferFDs
	if !o.Native {
		out.GoferFDsAfter = gofer.settledFDs(goferFDs + LeakSlack)
	}
	runErr := ctx.Err()
	if conductErr != nil {
		return out, fmt.Errorf("%s: %w; stdout:\n%s\nstderr:\n%s", w.Name, conductErr, stdout.String(), stderr.String())
	}
	if pod != nil {
		// The outside client is done once the workload took its quit;
		// if the workload ended without it, the client stops now.
		cancel()
		perr := pod.stop()
		out.PeerRetries = int(pod.retries.Load())
		if perr != nil {
			return out, fmt.Errorf("%s: %w; stderr:\n%s", w.Name, perr, stderr.String())
		}
	}
	if runErr != nil {
		return out, fmt.Errorf("%s: timed out after %v; stderr:\n%s", w.Name, o.Timeout, stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		out.ExitCode = ws.ExitStatus()
		if ws.Signaled() {
			out.ExitCode = 128 + int(ws.Signal())
		}
	} else if err != nil {
		return out, err
	}
	if b, err := os.ReadFile(clientLog); err == nil {
		out.ClientLog = string(b)
	}
	out.Files, err = Files(work)
	return out, err
}

// LeakSlack is how many more fds the gofer may hold after a run than
// before it: gRPC may keep a connection or two, and the handles of
// unlinked files whose server was killed linger for OrphanLinger.
const LeakSlack = 16

// OrphanLinger is the gofer's --orphan-linger in a run: long enough for a
// successor server on a loaded machine to reopen a killed one's unlinked
// files, short enough that the leak check (which waits for the fds to
// settle up to OrphanLinger and 5 s more) sees whether the orphans that
// no successor claimed were dropped, however many a run's kills left.
const OrphanLinger = 10 * time.Second

// Leak returns an error if the gofer kept the handles of the servers that
// were killed.
func (o Outcome) Leak() error {
	if o.GoferFDsAfter > o.GoferFDsBefore+LeakSlack {
		return fmt.Errorf("the gofer leaks: %d fds open before the run, %d after it (%d kills)", o.GoferFDsBefore, o.GoferFDsAfter, o.Kills)
	}
	return nil
}

// Files describes every file under root: relative path, mode, and the
// SHA-256 of regular files' contents, sorted.
func Files(root string) (string, error) {
	var lines []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %d %x", len(b), sha256.Sum256(b))
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n"), err
}

// Compare returns an error describing how got differs from want.
func Compare(want, got Outcome) error {
	var diffs []string
	if want.Stdout != got.Stdout {
		diffs = append(diffs, fmt.Sprintf("stdout differs:\nwant:\n%s\ngot:\n%s", want.Stdout, got.Stdout))
	}
	if want.ExitCode != got.ExitCode {
		diffs = append(diffs, fmt.Sprintf("exit code: want %d, got %d", want.ExitCode, got.ExitCode))
	}
	if want.Files != got.Files {
		diffs = append(diffs, fmt.Sprintf("files differ:\nwant:\n%s\ngot:\n%s", want.Files, got.Files))
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%s\nstderr:\n%s", strings.Join(diffs, "\n"), got.Stderr)
}

// waitLogLine waits until the file at path holds line, and reports
// whether it did before stop was closed.
func waitLogLine(path, line string, stop <-chan struct{}) bool {
	for {
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(line)) {
			return true
		}
		select {
		case <-stop:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}
