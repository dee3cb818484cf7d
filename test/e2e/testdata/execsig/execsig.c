// execsig.c: the signal actions a program finds after execve, as Linux's
// flush_signal_handlers(current, 0) leaves them: caught signals back to
// SIG_DFL, ignored ones still SIG_IGN, and every action, an ignored one
// too, without its flags, restorer and mask. It sets actions with
// glibc's sigaction (which adds SA_RESTORER and its restorer), prints
// rt_sigaction's answers, execs itself and prints them again; the test
// compares the output with a native run.
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The kernel's struct sigaction.
struct ksa {
	uint64_t handler, flags, restorer, mask;
};

// Real-time signals by number (glibc's SIGRTMIN and SIGRTMAX are calls).
enum { RT36 = 36, RT37 = 37, RT64 = 64 };

static void caught(int sig) { (void)sig; }

static const int sigs[] = {SIGHUP, SIGUSR1, SIGPIPE, SIGWINCH, SIGCHLD, SIGUSR2, SIGTERM, RT36, RT64};

static const char *name(uint64_t h) {
	if (h == (uint64_t)(uintptr_t)SIG_DFL) return "DFL";
	if (h == (uint64_t)(uintptr_t)SIG_IGN) return "IGN";
	if (h == (uint64_t)(uintptr_t)caught) return "caught";
	return "?";
}

static void show(const char *when) {
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct ksa o;
		memset(&o, 0xff, sizeof o);
		long r = syscall(SYS_rt_sigaction, sigs[i], NULL, &o, 8);
		if (r < 0) {
			printf("%s: sig %d -> -1\n", when, sigs[i]);
			continue;
		}
		printf("%s: sig %d -> %s flags %#llx restorer %s mask %#llx\n", when, sigs[i], name(o.handler),
		       (unsigned long long)o.flags, o.restorer ? "set" : "none", (unsigned long long)o.mask);
	}
}

// set gives sig handler h with flags and a mask of the signals in m (0
// ended).
static void set(int sig, void (*h)(int), int flags, const int *m) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	for (; m && *m; m++)
		sigaddset(&sa.sa_mask, *m);
	if (sigaction(sig, &sa, NULL) < 0)
		printf("sigaction %d failed\n", sig);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1) {
		show("after exec");
		return 0;
	}
	static const int m1[] = {SIGUSR2, SIGHUP, 0}, m2[] = {SIGTERM, RT37, 0}, m3[] = {RT64, 0};
	// Ignored, with flags and masks that exec drops.
	set(SIGUSR1, SIG_IGN, SA_RESTART | SA_NODEFER, m1);
	set(SIGPIPE, SIG_IGN, SA_RESTART | SA_SIGINFO, m2);
	set(SIGWINCH, SIG_IGN, SA_ONSTACK | SA_SIGINFO, NULL);
	set(RT36, SIG_IGN, SA_NODEFER, m3);
	// Ignored without flags: stays as it is.
	set(SIGHUP, SIG_IGN, 0, NULL);
	// Default with flags (SIGCHLD's own SA_NOCLDSTOP among them; not
	// SA_NOCLDWAIT, under which the wait below would reap nothing).
	set(SIGCHLD, SIG_DFL, SA_NOCLDSTOP | SA_RESTART, m1);
	// Caught: back to SIG_DFL.
	set(SIGUSR2, caught, SA_RESTART | SA_SIGINFO, m2);
	set(SIGTERM, caught, SA_NODEFER, m1);
	set(RT64, caught, 0, m3);
	show("before exec");
	pid_t pid = fork();
	if (pid == 0) {
		// A child's exec: its table is a copy of the parent's.
		execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
		_exit(9);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	// The process's own exec.
	execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
	return 9;
}
