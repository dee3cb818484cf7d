package client

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

var platformsUnderTest = []string{"systrap", "ptrace"}

// envPlatform selects the platform in a per-platform child test process.
const envPlatform = "RUNSC_DECOUPLED_CLIENT_TEST_PLATFORM"

var (
	staticOnce sync.Once
	staticBin  string
	staticErr  error
	staticDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if staticDir != "" {
		os.RemoveAll(staticDir)
	}
	os.Exit(code)
}

// isStatic says the running test binary has no ELF interpreter.
func isStatic() bool {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// staticTestBinary returns a statically linked build of this test binary:
// gVisor's systrap platform only works in a static (CGO_ENABLED=0)
// process (in a cgo binary its stub threads fault forever at start-up).
func staticTestBinary(t *testing.T) string {
	if isStatic() {
		return "/proc/self/exe"
	}
	staticOnce.Do(func() {
		staticDir, staticErr = os.MkdirTemp("", "client-test")
		if staticErr != nil {
			return
		}
		staticBin = filepath.Join(staticDir, "client.test")
		// The go command that runs this test is on PATH (go test puts
		// its own GOROOT/bin first).
		gobin := "go"
		cmd := exec.Command(gobin, "test", "-c", "-o", staticBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticErr = fmt.Errorf("building a static test binary: %v\n%s", err, out)
		}
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return staticBin
}

// forEachPlatform runs f once per platform, each in its own static child
// process: a process can host only one platform (systrap mseals its stub
// region, after which the ptrace platform cannot start).
func forEachPlatform(t *testing.T, f func(t *testing.T, platform string)) {
	if p := os.Getenv(envPlatform); p != "" {
		f(t, p)
		return
	}
	requireRoot(t)
	bin := staticTestBinary(t)
	name := t.Name()
	for _, p := range platformsUnderTest {
		t.Run(p, func(t *testing.T) {
			args := []string{"-test.run", "^" + name + "$", "-test.count=1"}
			if testing.Verbose() {
				args = append(args, "-test.v")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), envPlatform+"="+p)
			out, err := cmd.CombinedOutput()
			if err != nil || testing.Verbose() {
				t.Logf("%s on %s:\n%s", name, p, out)
			}
			if err != nil {
				t.Errorf("%s on %s failed: %v", name, p, err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the push handler and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildC compiles a static C program. gcc is required: the test fails
// (not skips) without it.
func buildC(t *testing.T, name, src string) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("gcc is required to build the test program (apt-get install gcc libc6-dev): %v", err)
	}
	dir := t.TempDir()
	cfile := filepath.Join(dir, name+".c")
	if err := os.WriteFile(cfile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	out, err := exec.Command(gcc, "-static", "-O2", "-pthread", "-o", bin, cfile).CombinedOutput()
	if err != nil {
		t.Fatalf("gcc -static failed (is libc6-dev installed?): %v\n%s", err, out)
	}
	return bin
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatalf("the client tests need root (the platforms ptrace their stubs)")
	}
}

type runResult struct {
	status int
	stdout string
	stderr string
}

func runFake(t *testing.T, platform string, argv []string) (runResult, *fakeSentry) {
	t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Name: "client", Level: hclog.Info, Output: testWriter{t}})
	return runFakeWith(t, platform, argv, 60*time.Second, logger, testing.Verbose())
}

// runFakeWith runs argv against a new fake sentry within timeout, the
// client logging to logger (and tracing calls with strace).
func runFakeWith(t *testing.T, platform string, argv []string, timeout time.Duration, logger hclog.Logger, strace bool) (runResult, *fakeSentry) {
	t.Helper()
	srv, target := startFakeSentry(t)
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	status, err := Run(ctx, Config{
		Server:   target,
		Platform: platform,
		Argv:     argv,
		Env:      []string{"PATH=/bin:/usr/bin", "HOME=/"},
		Cwd:      "/",
		Stdin:    strings.NewReader(""),
		Stdout:   &stdout,
		Stderr:   &stderr,
		Log:      logger,
		Strace:   strace,
		// The fake keeps nothing across sessions, so a recovery to it
		// cannot continue the application: a load-induced heartbeat
		// gap (the default declares the server dead after 500 ms) must
		// not start one. Failure detection has its own tests
		// (recovery_test.go).
		DeadAfter: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run(%v) on %s: %v", argv, platform, err)
	}
	return runResult{status: status, stdout: stdout.String(), stderr: stderr.String()}, srv
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

const helloSrc = `
#include <unistd.h>
int main(void) {
	write(1, "hello\n", 6);
	return 3;
}
`

const segvSrc = `
int main(void) {
	*(volatile int *)0 = 1;
	return 0;
}
`

func TestStaticHelloExit(t *testing.T) {
	requireRoot(t)
	forEachPlatform(t, func(t *testing.T, p string) {
		bin := buildC(t, "hello", helloSrc)
		res, _ := runFake(t, p, []string{bin})
		if res.stdout != "hello\n" {
			t.Errorf("stdout = %q, want %q", res.stdout, "hello\n")
		}
		if res.status != 3<<8 {
			t.Errorf("wait status = %#x, want %#x", res.status, 3<<8)
		}
	})
}

// TestServerDiesDuringHandshake: a server that dies between the client's
// Hello and its Welcome is dialed again (it may be restarted, or the next
// one answers), as after any other death.
func TestServerDiesDuringHandshake(t *testing.T) {
	requireRoot(t)
	forEachPlatform(t, func(t *testing.T, p string) {
		bin := buildC(t, "hello", helloSrc)
		srv, target := startFakeSentry(t)
		srv.dropHellos.Store(2)
		var stdout, stderr syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		status, err := Run(ctx, Config{
			Server: target, Platform: p, Argv: []string{bin}, Cwd: "/",
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
			Grace: 200 * time.Millisecond, RecoveryTimeout: 10 * time.Second,
		})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if status != 3<<8 || stdout.String() != "hello\n" {
			t.Fatalf("status %#x stdout %q", status, stdout.String())
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.hellos) != 3 {
			t.Fatalf("%d hellos, want 3 (two handshakes failed)", len(srv.hellos))
		}
	})
}

func TestBusyboxEcho(t *testing.T) {
	requireRoot(t)
	const bb = "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Fatalf("%s is required (apt-get install busybox-static): %v", bb, err)
	}
	forEachPlatform(t, func(t *testing.T, p string) {
		res, srv := runFake(t, p, []string{bb, "echo", "hi"})
		if res.stdout != "hi\n" {
			t.Errorf("stdout = %q, want %q", res.stdout, "hi\n")
		}
		if res.status != 0 {
			t.Errorf("wait status = %#x, want 0", res.status)
		}
		srv.mu.Lock()
		t.Logf("page reads: %d, forwarded: %v", srv.pageReads, srv.calls)
		srv.mu.Unlock()
	})
}

func TestSegfaultStatus(t *testing.T) {
	requireRoot(t)
	forEachPlatform(t, func(t *testing.T, p string) {
		bin := buildC(t, "segv", segvSrc)
		res, _ := runFake(t, p, []string{bin})
		if res.status != 11 {
			t.Errorf("wait status = %#x, want 11 (SIGSEGV)", res.status)
		}
	})
}

const processSrc = `
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int got;

static void handler(int sig, siginfo_t *si, void *uc) {
	got = sig;
	write(1, "handler\n", 8);
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, 0);
	kill(getpid(), SIGUSR1);
	if (got != SIGUSR1) return 10;

	pid_t p = fork();
	if (p == 0) {
		write(1, "child\n", 6);
		_exit(7);
	}
	int st;
	if (waitpid(p, &st, 0) != p) return 11;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) return 12;

	p = vfork();
	if (p == 0) {
		char *argv[] = {"busybox", "echo", "exec", 0};
		char *envp[] = {0};
		execve("/bin/busybox", argv, envp);
		_exit(127);
	}
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 13;
	write(1, "done\n", 5);
	return 0;
}
`

func TestForkExecWaitSignal(t *testing.T) {
	forEachPlatform(t, func(t *testing.T, p string) {
		bin := buildC(t, "process", processSrc)
		res, _ := runFake(t, p, []string{bin})
		want := "handler\nchild\nexec\ndone\n"
		if res.stdout != want {
			t.Errorf("stdout = %q, want %q", res.stdout, want)
		}
		if res.status != 0 {
			t.Errorf("wait status = %#x, want 0", res.status)
		}
	})
}

const threadsSrc = `
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static int ready;

static void *worker(void *arg) {
	for (int i = 0; i < 10000; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	pthread_mutex_lock(&mu);
	ready++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return arg;
}

int main(void) {
	pthread_t th[4];
	for (long i = 0; i < 4; i++) pthread_create(&th[i], 0, worker, (void *)i);
	pthread_mutex_lock(&mu);
	while (ready < 4) pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	for (long i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		if ((long)r != i) return 20;
	}
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%ld\n", counter);
	write(1, buf, n);
	return 0;
}
`

func TestThreadsFutex(t *testing.T) {
	forEachPlatform(t, func(t *testing.T, p string) {
		bin := buildC(t, "threads", threadsSrc)
		res, _ := runFake(t, p, []string{bin})
		if res.stdout != "40000\n" || res.status != 0 {
			t.Errorf("stdout = %q, status %#x; want \"40000\\n\", 0", res.stdout, res.status)
		}
	})
}
