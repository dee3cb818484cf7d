package testutil

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds runsc-decoupled (static, as the platform needs) once per
// test process and returns its path. The path is one per source tree,
// replaced atomically by each build, so that test processes do not each
// leave a 40 MB binary in the temporary directory (a day of test runs
// filled the disk).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		sum := sha256.Sum256([]byte(RepoRoot()))
		dir := filepath.Join(os.TempDir(), "rd-bin-"+hex.EncodeToString(sum[:6]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "runsc-decoupled")
		// Built beside it, then renamed over it: a test process running
		// the previous build keeps its file.
		tmp := fmt.Sprintf("%s.%d", buildPath, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, "./runsc-decoupled")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		if err := os.Rename(tmp, buildPath); err != nil {
			os.Remove(tmp)
			buildErr = err
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Result is what a finished command produced.
type Result struct {
	Stdout, Stderr string
	// ExitCode is the shell-style exit code (128+N for signal N).
	ExitCode int
}

// Run runs argv with stdin, under a timeout, in dir ("" for the current
// directory).
func Run(t testing.TB, timeout time.Duration, dir string, stdin string, argv ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := command(ctx, dir, stdin, argv)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q timed out after %v\nstdout:\n%s\nstderr:\n%s", argv, timeout, out.String(), errb.String())
	}
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.ExitCode = 128 + int(ws.Signal())
		} else {
			r.ExitCode = ws.ExitStatus()
		}
	default:
		t.Fatalf("run %q: %v", argv, err)
	}
	return r
}

// command is the command Run runs. A sandbox's environment is the test's,
// as a native run's is: the application inherits it (TestStrace compares
// strace's count of the variables).
func command(ctx context.Context, dir, stdin string, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 2 * time.Second
	if buildPath != "" && argv[0] == buildPath {
		// A hung sandbox says where it hangs: its Go stacks on stderr.
		cmd.Cancel = func() error { return dumpStacks(cmd.Process.Pid) }
		cmd.WaitDelay = 5 * time.Second
	}
	return cmd
}

// dumpStacks makes the runsc-decoupled process pid and the daemons it
// started (an embedded server and gofer) print every goroutine's stack
// and exit: SIGABRT, which the Go runtime answers so (with the default
// GOTRACEBACK, as for any fatal signal) and runsc-decoupled does not
// catch. The daemons go first: the client ends the session when it dies,
// and a daemon with no session may leave before its stacks are taken.
// The caller's WaitDelay kills what is left.
func dumpStacks(pid int) error {
	for _, d := range daemonPIDs(pid) {
		// One at a time: their dumps share the sandbox's stderr.
		syscall.Kill(d, syscall.SIGABRT)
		time.Sleep(500 * time.Millisecond)
	}
	return syscall.Kill(pid, syscall.SIGABRT)
}

// daemonPIDs lists the children of pid that run `runsc-decoupled server`
// or `gofer` (not the sandboxed application's stub processes, which are
// forks of the client), from /proc.
func daemonPIDs(pid int) []int {
	var pids []int
	for _, child := range ChildPIDs(pid) {
		if DaemonVerb(child) != "" {
			pids = append(pids, child)
		}
	}
	return pids
}

// ChildPIDs lists the children of process pid (any of its threads'),
// from /proc; none once it is gone.
func ChildPIDs(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(field); err == nil {
				out = append(out, child)
			}
		}
	}
	return out
}

// DaemonVerb returns "server" or "gofer" when process pid runs
// `runsc-decoupled server` or `gofer` (do's embedded daemons), else "".
func DaemonVerb(pid int) string {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	args := strings.Split(string(cmdline), "\x00")
	if len(args) > 1 && filepath.Base(args[0]) == "runsc-decoupled" && (args[1] == "server" || args[1] == "gofer") {
		return args[1]
	}
	return ""
}

// RunBeside runs partner in the background and argv in the foreground,
// both in dir under a timeout, and returns argv's result with partner's
// combined output and its Wait error: the two processes of a test where
// one changes files while the other looks (natively, or two sandboxes on
// one server).
func RunBeside(t testing.TB, timeout time.Duration, dir string, partner, argv []string) (r Result, partnerOut string, partnerErr error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	bg := exec.CommandContext(ctx, partner[0], partner[1:]...)
	bg.Dir = dir
	out, err := os.Create(filepath.Join(t.TempDir(), "partner.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	bg.Stdout, bg.Stderr = out, out
	if err := bg.Start(); err != nil {
		t.Fatalf("start %q: %v", partner, err)
	}
	r = Run(t, timeout, dir, "", argv...)
	partnerErr = bg.Wait()
	text, _ := os.ReadFile(out.Name())
	return r, string(text), partnerErr
}

// Sandbox runs argv under `runsc-decoupled do` with the given do flags.
// The tests compare the files a sandboxed program writes with a native
// run's, so do writes through to the host (--force-overlay=false) unless
// flags say otherwise; test/e2e/dosafe_test.go covers the overlay.
func Sandbox(t testing.TB, timeout time.Duration, dir, stdin string, flags []string, argv ...string) Result {
	t.Helper()
	return Run(t, timeout, dir, stdin, SandboxArgv(t, flags, argv...)...)
}

// SandboxArgv is the command line Sandbox runs: `do` with flags (and
// --force-overlay=false unless flags set it) for argv.
func SandboxArgv(t testing.TB, flags []string, argv ...string) []string {
	t.Helper()
	overlaySet := false
	for _, f := range flags {
		overlaySet = overlaySet || strings.HasPrefix(strings.TrimLeft(f, "-"), "force-overlay")
	}
	full := []string{Binary(t), "do"}
	if !overlaySet {
		full = append(full, "--force-overlay=false")
	}
	full = append(full, flags...)
	full = append(full, "--")
	return append(full, argv...)
}

// Daemon is a runsc-decoupled server or gofer started by a test.
type Daemon struct {
	Cmd    *exec.Cmd
	Target string
	Log    *bytes.Buffer
	// exited is closed once the daemon's process has been reaped.
	exited chan struct{}
}

// Kill kills the daemon with SIGKILL and returns once it is gone. A
// successor started at the same address only after that cannot find the
// dying daemon's socket still accepting (its listener lives until the
// process is torn down) and take it for a live peer.
func (d *Daemon) Kill() {
	d.Cmd.Process.Kill()
	<-d.exited
}

// StartDaemon starts `runsc-decoupled VERB --listen unix:DIR/NAME.sock
// ARGS...` and waits until it listens. It is killed at the end of the test.
func StartDaemon(t testing.TB, dir, name, verb string, args ...string) *Daemon {
	t.Helper()
	target := "unix:" + filepath.Join(dir, name+".sock")
	d := StartDaemonAt(t, target, verb, args...)
	if d == nil {
		t.Fatalf("%s did not listen on %s", verb, target)
	}
	return d
}

// StartDaemonTCP starts `runsc-decoupled VERB --listen 127.0.0.1:PORT
// ARGS...` on a free loopback port and waits until it listens.
func StartDaemonTCP(t testing.TB, verb string, args ...string) *Daemon {
	t.Helper()
	for port := 17000 + os.Getpid()%1000; port < 19000; port++ {
		if d := StartDaemonAt(t, "127.0.0.1:"+strconv.Itoa(port), verb, args...); d != nil {
			return d
		}
	}
	t.Fatalf("no free loopback port for %s", verb)
	return nil
}

// StartDaemonAt starts `runsc-decoupled VERB --listen TARGET ARGS...` and
// waits until it listens. It returns nil if the daemon exited first (the
// address was taken, say), with the daemon's log in the test log. A started
// daemon is killed at the end of the test.
func StartDaemonAt(t testing.TB, target, verb string, args ...string) *Daemon {
	t.Helper()
	tg, err := transport.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Target: target, Log: &bytes.Buffer{}}
	all := append([]string{verb, "--listen", target}, args...)
	d.Cmd = exec.Command(Binary(t), all...)
	d.Cmd.Stdout, d.Cmd.Stderr = d.Log, d.Log
	if err := d.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", verb, err)
	}
	exited := make(chan struct{})
	d.exited = exited
	go func() { d.Cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		d.Cmd.Process.Kill()
		<-exited
	})
	gone := func() error {
		select {
		case <-exited:
			return errors.New("exited")
		default:
			return nil
		}
	}
	err = transport.WaitListening(tg, 10*time.Second, gone)
	select {
	case <-exited:
		t.Logf("%s on %s exited: %s", verb, target, d.Log.String())
		return nil
	default:
	}
	if err == nil {
		return d
	}
	t.Fatalf("%s did not listen on %s; log:\n%s", verb, target, d.Log.String())
	return nil
}

// StaticProgram compiles C source with gcc -static into dir and returns the
// binary's path.
func StaticProgram(t testing.TB, dir, name, src string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatalf("gcc is required (run test/setup.sh): %v", err)
	}
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("gcc", "-static", "-O2", "-o", bin, c).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, err, out)
	}
	return bin
}

// StaticProgramFile builds the C source file at path (relative to the
// test's package directory, e.g. testdata/DIR/NAME.c) as StaticProgram
// does, into dir, naming the program after the file without its ".c"; it
// fails t, naming path, if the file cannot be read.
func StaticProgramFile(t testing.TB, dir, path string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading C source %s: %v", path, err)
	}
	return StaticProgram(t, dir, strings.TrimSuffix(filepath.Base(path), ".c"), string(src))
}

// Busybox is the static busybox the workloads use.
const Busybox = "/bin/busybox"

// RequireRoot fails the test when not root: the platform needs it.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("must run as root (the gVisor platform needs it)")
	}
}

// Exists reports whether path names a file (a workload's marker that it
// reached a point).
func Exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// KeepLog writes b, a failed test's log file called file, into dir (the
// directory a *_KEEP_LOGS variable names) as <test name>.<file>, and says
// where in the test's log.
func KeepLog(t testing.TB, dir, file string, b []byte) {
	t.Helper()
	name := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"."+file)
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Logf("keeping %s: %v", file, err)
		return
	}
	t.Logf("%s kept in full: %s", file, name)
}
