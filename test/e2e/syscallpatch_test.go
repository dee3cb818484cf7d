package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// restartsSrc interrupts calls made from patched inline sites, against
// the real server: a pipe read (forwarded) by SIGALRM with SA_RESTART,
// which restarts it by rewinding RIP onto the patched site, and a
// nanosleep (local) by a stop and continue, which restarts it through
// restart_syscall. Each site is patched by the calls before, which
// return at once (the client patches a site after 16 traps).
const restartsSrc = `
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>
#include <sys/wait.h>

__attribute__((noinline)) static long sys_read(long fd, void *buf, long n) {
	long r;
	__asm__ volatile("mov $0, %%eax\n\tsyscall" : "=a"(r) : "D"(fd), "S"(buf), "d"(n) : "rcx", "r11", "memory");
	return r;
}
__attribute__((noinline)) static long sys_nanosleep(const struct timespec *req) {
	long r;
	__asm__ volatile("mov $35, %%eax\n\tsyscall" : "=a"(r) : "D"(req), "S"(0) : "rcx", "r11", "memory");
	return r;
}
static long ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static void msleep(long n) { struct timespec ts = {n / 1000, n % 1000 * 1000000}; nanosleep(&ts, 0); }
static volatile int alarms;
static void on_alarm(int sig) { alarms++; }

int main(void) {
	int p[2];
	char c;
	if (pipe(p)) return 10;
	for (int i = 0; i < 20; i++)
		if (write(p[1], "a", 1) != 1 || sys_read(p[0], &c, 1) != 1 || c != 'a') return 11;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, 0);
	pid_t w = fork();
	if (w == 0) { msleep(400); write(p[1], "x", 1); _exit(0); }
	struct itimerval it = {{0, 0}, {0, 100000}};
	setitimer(ITIMER_REAL, &it, 0);
	long r = sys_read(p[0], &c, 1);
	printf("read %ld %c alarms %d\n", r, r == 1 ? c : '-', alarms);
	waitpid(w, 0, 0);

	int ready[2];
	if (pipe(ready)) return 12;
	pid_t s = fork();
	if (s == 0) {
		struct timespec brief = {0, 1000}, req = {0, 700000000};
		for (int i = 0; i < 20; i++)
			if (sys_nanosleep(&brief) != 0) _exit(1);
		write(ready[1], "r", 1);
		long t0 = ms();
		long r = sys_nanosleep(&req);
		long took = ms() - t0;
		_exit(r != 0 ? 2 : took < 650 ? 3 : 0);
	}
	if (read(ready[0], &c, 1) != 1) return 13;
	msleep(150);
	kill(s, SIGSTOP);
	msleep(150);
	kill(s, SIGCONT);
	int st;
	waitpid(s, &st, 0);
	printf("sleep %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st));
	return 0;
}
`

// patchCounts matches the client's end-of-run line on syscall patching
// (sentry/client/syscallpatch.go).
var patchCounts = regexp.MustCompile(`syscall entries: enabled=(\w+) patched_sites=(\d+) trap_tables=(\d+) patching_us=\d+ via_patch=(\d+) trapped=(\d+) sigill_resumed=(\d+) sigill_restarts=(\d+)`)

// TestSyscallPatchingRestarts: restarted calls at patched sites give the
// results of unpatched ones, and the restarts did come back through the
// patched sites (the client's counts); with
// --systrap-disable-syscall-patching nothing is patched.
func TestSyscallPatchingRestarts(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgram(t, dir, "restarts", restartsSrc)
	for _, tc := range []struct {
		name    string
		flags   []string
		patched bool
	}{
		{"patched", nil, true},
		{"unpatched", []string{"--systrap-disable-syscall-patching"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logFile := filepath.Join(t.TempDir(), "do.log")
			r := tu.Sandbox(t, 2*time.Minute, dir, "", append([]string{"--cwd", dir, "--debug-log", logFile}, tc.flags...), prog)
			if want := "read 1 x alarms 1\nsleep 0\n"; r.ExitCode != 0 || r.Stdout != want {
				t.Fatalf("exit %d, stdout %q; want 0, %q\n%s", r.ExitCode, r.Stdout, want, r.Stderr)
			}
			log, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			var counts []int
			for _, m := range patchCounts.FindAllSubmatch(log, -1) {
				counts = counts[:0]
				for _, v := range m[2:] {
					n, _ := strconv.Atoi(string(v))
					counts = append(counts, n)
				}
				t.Logf("%s", m[0])
			}
			if counts == nil {
				t.Fatalf("no syscall patching line in the client's log")
			}
			sites, resumed, restarts := counts[0], counts[4], counts[5]
			if !tc.patched {
				if sites != 0 {
					t.Errorf("patched_sites = %d with patching off", sites)
				}
				return
			}
			if sites < 2 {
				t.Errorf("patched_sites = %d, want the read and nanosleep sites at least", sites)
			}
			if resumed < 1 {
				t.Errorf("sigill_resumed = 0: the SA_RESTART read did not restart through its patched site")
			}
			if restarts < 1 {
				t.Errorf("sigill_restarts = 0: the stopped nanosleep did not restart_syscall through its patched site")
			}
		})
	}
}

// TestOCISyscallPatching: a container's client patches hot system call
// sites unless runsc's global --systrap-disable-syscall-patching was
// given before the verb (the client's counts in the container's
// sandbox.log).
func TestOCISyscallPatching(t *testing.T) {
	for _, tc := range []struct {
		name    string
		globals []string
		patched bool
	}{
		{"patched", []string{"--debug"}, true},
		{"unpatched", []string{"--debug", "--systrap-disable-syscall-patching"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newOCIRuntime(t)
			r.globals = tc.globals
			bundle := busyboxBundle(t, r, sh(`i=0; while [ $i -lt 200 ]; do echo $i > /dev/null; i=$((i+1)); done; echo done`))
			c, msg, code := r.create("p", bundle)
			if code != 0 {
				t.Fatalf("create: exit %d: %s", code, msg)
			}
			r.must("start", "p")
			if code := c.wait(t); code != 0 || c.out(t) != "done\n" {
				t.Fatalf("container: exit %d, output %q", code, c.out(t))
			}
			log, err := os.ReadFile(filepath.Join(r.root, "p", "sandbox.log"))
			if err != nil {
				t.Fatal(err)
			}
			m := patchCounts.FindSubmatch(log)
			if m == nil {
				t.Fatalf("no syscall patching line in sandbox.log")
			}
			t.Logf("%s", m[0])
			sites, _ := strconv.Atoi(string(m[2]))
			if tc.patched && sites == 0 {
				t.Errorf("patched_sites = 0: the loop's open, write and close sites were not patched")
			}
			if !tc.patched && sites != 0 {
				t.Errorf("patched_sites = %d with --systrap-disable-syscall-patching", sites)
			}
			r.must("delete", "p")
		})
	}
}
