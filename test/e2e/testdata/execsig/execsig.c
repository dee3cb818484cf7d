// execsig.c: the signal actions a program finds after execve, as Linux's
// flush_signal_handlers(current, 0) leaves them: caught signals back to
// SIG_DFL, ignored ones still SIG_IGN, and every action, an ignored one
// too, without its flags, restorer and mask. It sets actions with
// glibc's sigaction (which adds SA_RESTORER and its restorer), prints
// rt_sigaction's answers, execs itself and prints them again; the test
// compares the output with a native run.
//
// Before that it sets actions with flags Linux does not know, which its
// do_sigaction (5.11+) clears before storing the action (UAPI_SA_FLAGS):
// glibc's int sa_flags with SA_RESETHAND sign-extends into the kernel's
// 64-bit sa_flags (0xffffffff8c000000 with SA_ONSTACK and glibc's
// SA_RESTORER), which reads back as 0x8c000000, and a raw rt_sigaction
// with every bit set reads back as UAPI_SA_FLAGS alone. The action is
// read back as oldact of the next change, by a query and in a fork
// child, whose table is the one the kernel stored, and printed byte for
// byte.
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

static const int sigs[] = {SIGHUP, SIGUSR1, SIGPIPE, SIGWINCH, SIGCHLD, SIGUSR2, SIGTERM, SIGALRM, SIGURG, RT36, RT64};

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

// dump prints what rt_sigaction returned and the struct's 32 bytes.
static void dump(const char *what, long r, const struct ksa *o) {
	const unsigned char *b = (const unsigned char *)o;
	printf("%s: %ld", what, r);
	for (size_t i = 0; i < sizeof *o; i++)
		printf("%s%02x", i % 8 ? "" : " ", b[i]);
	printf("\n");
}

// unknownFlags sets actions with sa_flags bits Linux does not know and
// reads them back (see above).
static void unknownFlags(void) {
	// Raw, every bit set; fixed handler and restorer (never delivered:
	// SIGALRM is not sent) so that the bytes are the same natively.
	// Each change is read back at once, with no call between (the
	// client answers both from its copy of the table), and printed after.
	struct ksa a = {0x1234, ~0ULL, 0x5678, 1ULL << (SIGUSR1 - 1)}, o[4];
	long r[4];
	memset(o, 0xff, sizeof o);
	r[0] = syscall(SYS_rt_sigaction, SIGALRM, &a, &o[0], 8);
	r[1] = syscall(SYS_rt_sigaction, SIGALRM, NULL, &o[1], 8);
	// High bits, SA_RESETHAND, SA_RESTORER, SA_UNSUPPORTED (never kept)
	// and the kernel's own SA_IMMUTABLE.
	a.flags = 0xffffffff00000000ULL | SA_RESETHAND | 0x04000000 | 0x400 | 0x00800000;
	r[2] = syscall(SYS_rt_sigaction, SIGALRM, &a, &o[2], 8);
	r[3] = syscall(SYS_rt_sigaction, SIGALRM, NULL, &o[3], 8);
	dump("raw set, old", r[0], &o[0]);
	dump("raw query", r[1], &o[1]);
	dump("raw set again, old", r[2], &o[2]);
	dump("raw query again", r[3], &o[3]);

	// glibc's sigaction with SA_RESETHAND: sign-extended.
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	memset(&old, 0, sizeof old);
	int r1 = sigaction(SIGURG, &sa, NULL);
	int r2 = sigaction(SIGURG, &sa, &old);
	struct ksa k;
	memset(&k, 0xff, sizeof k);
	long r3 = syscall(SYS_rt_sigaction, SIGURG, NULL, &k, 8);
	printf("glibc SIGURG: %d %d old flags %#x\n", r1, r2, (unsigned)old.sa_flags);
	printf("glibc SIGURG query: %ld flags %#llx\n", r3, (unsigned long long)k.flags);

	// A fork child's table is a copy of the one the kernel stored.
	pid_t pid = fork();
	if (pid == 0) {
		memset(o, 0xff, sizeof o);
		r[0] = syscall(SYS_rt_sigaction, SIGALRM, NULL, &o[0], 8);
		memset(&k, 0xff, sizeof k);
		r3 = syscall(SYS_rt_sigaction, SIGURG, NULL, &k, 8);
		dump("child raw query", r[0], &o[0]);
		printf("child glibc SIGURG query: %ld flags %#llx\n", r3, (unsigned long long)k.flags);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("unknown flags child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
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
	unknownFlags();
	static const int m1[] = {SIGUSR2, SIGHUP, 0}, m2[] = {SIGTERM, RT37, 0}, m3[] = {RT64, 0};
	// Ignored, with flags and masks that exec drops.
	set(SIGUSR1, SIG_IGN, SA_RESTART | SA_NODEFER, m1);
	set(SIGPIPE, SIG_IGN, SA_RESTART | SA_SIGINFO, m2);
	set(SIGWINCH, SIG_IGN, SA_ONSTACK | SA_SIGINFO | SA_RESETHAND, NULL);
	set(RT36, SIG_IGN, SA_NODEFER, m3);
	// Ignored without flags: stays as it is.
	set(SIGHUP, SIG_IGN, 0, NULL);
	// Default with flags (SIGCHLD's own SA_NOCLDSTOP among them; not
	// SA_NOCLDWAIT, under which the wait below would reap nothing).
	set(SIGCHLD, SIG_DFL, SA_NOCLDSTOP | SA_RESTART, m1);
	// Caught: back to SIG_DFL.
	set(SIGUSR2, caught, SA_RESTART | SA_SIGINFO, m2);
	set(SIGTERM, caught, SA_NODEFER | SA_RESETHAND, m1);
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
