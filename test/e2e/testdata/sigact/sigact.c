// sigact.c: rt_sigaction's queries and changes as a program sees them
// (the client answers and posts them: sentry/client/sigactions.go). It
// prints what it finds; the test compares the output with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The kernel's struct sigaction.
struct ksa {
	uint64_t handler, flags, restorer, mask;
};

static long rtsa(int sig, struct ksa *act, struct ksa *old, size_t size) {
	long r = syscall(SYS_rt_sigaction, sig, act, old, size);
	return r < 0 ? -errno : r;
}

static volatile int caught;
static void on_usr1(int sig) { (void)sig; caught++; }
static void other(int sig) { (void)sig; }

static const char *name(uint64_t h) {
	if (h == (uint64_t)(uintptr_t)SIG_DFL) return "DFL";
	if (h == (uint64_t)(uintptr_t)SIG_IGN) return "IGN";
	if (h == (uint64_t)(uintptr_t)on_usr1) return "on_usr1";
	if (h == (uint64_t)(uintptr_t)other) return "other";
	return "?";
}

static void show(const char *what, int sig) {
	struct ksa o;
	long r = rtsa(sig, NULL, &o, 8);
	printf("%s: sig %d -> %ld %s flags %#llx mask %#llx\n", what, sig, r, r == 0 ? name(o.handler) : "-",
	       r == 0 ? (unsigned long long)(o.flags & ~0x04000000ULL) : 0ULL, r == 0 ? (unsigned long long)o.mask : 0ULL);
}

int main(int argc, char **argv) {
	if (argc > 1) {
		// After exec: handlers are reset, ignored signals stay ignored.
		show("after exec", SIGUSR1);
		show("after exec", SIGUSR2);
		show("after exec", SIGTERM);
		return 0;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	show("default", SIGINT);
	show("default", SIGUSR1);

	// A change whose mask holds SIGKILL and SIGSTOP: they are dropped.
	struct ksa a = {(uint64_t)(uintptr_t)other, SA_RESTART, 0, (1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)) | (1ULL << (SIGUSR2 - 1))};
	printf("set other: %ld\n", rtsa(SIGUSR1, &a, NULL, 8));
	show("after set", SIGUSR1);
	// A change that asks the old action.
	struct ksa o;
	a.handler = (uint64_t)(uintptr_t)SIG_IGN;
	a.mask = 0;
	a.flags = 0;
	long r = rtsa(SIGUSR1, &a, &o, 8);
	printf("set IGN, old: %ld %s\n", r, name(o.handler));
	show("after set", SIGUSR1);

	// Many changes, each followed by a query of it.
	int bad = 0;
	for (int i = 0; i < 300; i++) {
		struct ksa b = {(uint64_t)(uintptr_t)(i % 2 ? other : SIG_DFL), SA_RESTART, 0, (uint64_t)i << 20}, q;
		if (rtsa(SIGUSR2, &b, NULL, 8) != 0 || rtsa(SIGUSR2, NULL, &q, 8) != 0 || q.mask != (uint64_t)i << 20 ||
		    q.handler != b.handler)
			bad++;
	}
	printf("300 changes and queries: %d wrong\n", bad);

	// What the server refuses.
	printf("SIGKILL: %ld\n", rtsa(SIGKILL, &a, NULL, 8));
	printf("SIGSTOP: %ld\n", rtsa(SIGSTOP, &a, NULL, 8));
	printf("SIGKILL query: %ld\n", rtsa(SIGKILL, NULL, &o, 8));
	printf("signal 0: %ld\n", rtsa(0, &a, NULL, 8));
	printf("signal 65: %ld\n", rtsa(65, NULL, &o, 8));
	printf("size 4: %ld\n", rtsa(SIGUSR1, NULL, &o, 4));
	printf("act fault: %ld\n", rtsa(SIGUSR1, (struct ksa *)8, NULL, 8));
	printf("oldact fault: %ld\n", rtsa(SIGUSR1, NULL, (struct ksa *)8, 8));
	show("after refusals", SIGUSR1);

	// Delivery follows the changes.
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	raise(SIGUSR1);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	printf("caught %d\n", caught);

	// A child inherits the table; exec resets handlers, keeps ignored.
	sa.sa_handler = other;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTERM, &sa, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		show("child", SIGUSR1);
		show("child", SIGUSR2);
		sa.sa_handler = SIG_DFL;
		sigaction(SIGUSR2, &sa, NULL);
		show("child after its change", SIGUSR2);
		execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
		_exit(9);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("child exit %d\n", WEXITSTATUS(st));
	show("parent after the child's change", SIGUSR2);
	// A child that dies of a signal whose action the parent's posted
	// change reset.
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	pid = fork();
	if (pid == 0) {
		raise(SIGTERM);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	printf("child killed %d by %d\n", WIFSIGNALED(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 0;
}
