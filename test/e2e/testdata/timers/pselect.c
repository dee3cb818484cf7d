// pselect6, ppoll and epoll_pwait with a signal mask that unblocks SIGCHLD: the child's
// exit interrupts the wait (EINTR, the handler runs), whether SIGCHLD
// arrives during the wait or was pending before it; the caller's mask is
// back afterwards. make -j waits like this for its jobs.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t chld;

static void on_chld(int sig) { chld++; }

// quick: well before the 10 s timeout (a hang check, not a benchmark).
static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void child(int delay_ms) {
	if (fork() == 0) {
		usleep(delay_ms * 1000);
		_exit(0);
	}
}

static void report(const char *what, int r, double t0) {
	int e = errno;
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	printf("%s: %d %s, handler ran %d, quick %s, SIGCHLD blocked after %s\n", what, r, r < 0 ? strerror(e) : "ok",
	       (int)chld, now() - t0 < 8 ? "yes" : "no", sigismember(&cur, SIGCHLD) ? "yes" : "no");
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	chld = 0;
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	sigset_t block, empty;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &block, NULL);
	int p[2];
	pipe(p);
	struct timespec ten = {10, 0};

	// SIGCHLD during the wait.
	child(100);
	double t0 = now();
	int r = pselect(0, NULL, NULL, NULL, &ten, &empty);
	report("pselect, signal during", r, t0);

	// SIGCHLD pending before the wait.
	child(0);
	usleep(200000);
	t0 = now();
	r = pselect(0, NULL, NULL, NULL, &ten, &empty);
	report("pselect, signal pending", r, t0);

	// ppoll on a pipe that stays empty.
	child(100);
	struct pollfd pfd = {p[0], POLLIN, 0};
	t0 = now();
	r = ppoll(&pfd, 1, &ten, &empty);
	report("ppoll, signal during", r, t0);

	// epoll_pwait on an epoll with the empty pipe.
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN}, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	child(100);
	t0 = now();
	r = epoll_pwait(ep, &out, 1, 10000, &empty);
	report("epoll_pwait, signal during", r, t0);

	// A mask that keeps SIGCHLD blocked: the wait times out.
	child(0);
	struct timespec short_ = {0, 300000000};
	t0 = now();
	r = pselect(0, NULL, NULL, NULL, &short_, &block);
	printf("pselect, still blocked: %d, handler ran %d\n", r, (int)chld);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	printf("after unblocking: handler ran %d\n", (int)chld);
	sigprocmask(SIG_BLOCK, &block, NULL);
	report("reset", 0, t0);

	// Without a mask, SIGCHLD stays blocked and the wait times out.
	child(0);
	r = pselect(0, NULL, NULL, NULL, &short_, NULL);
	printf("pselect, no mask: %d, handler ran %d\n", r, (int)chld);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	sigprocmask(SIG_BLOCK, &block, NULL);
	report("reset", 0, t0);

	// A bad mask size.
	struct {
		sigset_t *ss;
		size_t len;
	} arg = {&empty, 4};
	r = syscall(SYS_pselect6, 0, NULL, NULL, NULL, &short_, &arg);
	printf("pselect6 mask size 4: %d %s\n", r, r < 0 ? strerror(errno) : "ok");
	r = syscall(SYS_ppoll, &pfd, 1, &short_, &empty, 4);
	printf("ppoll mask size 4: %d %s\n", r, r < 0 ? strerror(errno) : "ok");
	return 0;
}
