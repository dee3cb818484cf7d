/* childwait: wait4(..., WNOHANG) as make polls it, whose "no child ready"
 * answers the client gives from the process records
 * (sentry/client/childwait.go), checked by what a parent sees: 0 while
 * its children run (argv[1] polls each of wait4(-1) and wait4(pid)), the
 * child's status once SIGCHLD said it exited, a posted exit and a kill
 * found by polling, ECHILD with no child, and a clone child with another
 * exit signal left out of a plain wait. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t chlds;

static void on_chld(int sig) {
	(void)sig;
	chlds++;
}

static void die(int code) { syscall(SYS_exit_group, code); }

/* poll waits for pid with WNOHANG until it is reported, and returns its
 * status. */
static int poll_until(pid_t pid) {
	int status;
	for (;;) {
		pid_t got = wait4(pid, &status, WNOHANG, NULL);
		if (got == pid)
			return status;
		if (got != 0) {
			perror("wait4 poll");
			exit(1);
		}
		sched_yield();
	}
}

static char stack[64 * 1024];

static int clone_child(void *arg) {
	(void)arg;
	return 5;
}

int main(int argc, char **argv) {
	int polls = argc > 1 ? atoi(argv[1]) : 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);

	/* No child at all. */
	int status = 0;
	errno = 0;
	int r = wait4(-1, &status, WNOHANG, NULL);
	printf("no child: %d %s\n", r, strerror(errno));

	/* Two children blocked reading a pipe: every poll finds none ready
	 * and leaves the status word alone. */
	int p[2];
	if (pipe(p)) {
		perror("pipe");
		return 1;
	}
	pid_t kids[2];
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			char c;
			close(p[1]);
			while (read(p[0], &c, 1) > 0) {
			}
			die(3 + i);
		}
	}
	close(p[0]);
	int zeros = 0, kept = 0;
	for (int i = 0; i < polls; i++) {
		status = 12345;
		zeros += wait4(-1, &status, WNOHANG, NULL) == 0;
		kept += status == 12345;
		zeros += wait4(kids[i % 2], &status, WNOHANG, NULL) == 0;
		kept += status == 12345;
	}
	printf("running children: %d of %d polls 0, status kept %d\n", zeros, 2 * polls, kept);

	/* Their exit, learned by SIGCHLD: a poll then reports each. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	chlds = 0;
	close(p[1]);
	/* SIGCHLDs coalesce: each one says at least one child is ready. */
	int reaped = 0, sum = 0, empty = 0;
	pid_t got = 0;
	while (reaped < 2) {
		while (chlds == 0)
			sigsuspend(&old);
		chlds = 0;
		int before = reaped;
		while ((got = wait4(-1, &status, WNOHANG, NULL)) > 0) {
			reaped++;
			sum += WEXITSTATUS(status);
		}
		empty += reaped == before;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("after SIGCHLD: reaped %d, statuses %d, SIGCHLDs with none ready %d, then %d %s\n", reaped, sum, empty, (int)got, strerror(errno));

	/* A child's posted exit_group and a killed child, found by polling
	 * (natively too a poll may come before the exit). */
	pid_t quick = fork();
	if (quick == 0)
		die(7);
	status = poll_until(quick);
	printf("quick child: exit %d\n", WEXITSTATUS(status));
	pid_t victim = fork();
	if (victim == 0) {
		for (;;)
			pause();
	}
	kill(victim, SIGKILL);
	status = poll_until(victim);
	printf("killed child: signal %d\n", WTERMSIG(status));

	/* A clone child with no exit signal: only __WALL waits for it. */
	pid_t cl = clone(clone_child, stack + sizeof stack, 0, NULL);
	if (cl < 0) {
		perror("clone");
		return 1;
	}
	errno = 0;
	r = wait4(-1, &status, WNOHANG, NULL);
	printf("clone child, plain wait: %d %s\n", r, strerror(errno));
	while ((got = wait4(cl, &status, __WALL, NULL)) < 0 && errno == EINTR) {
	}
	printf("clone child, __WALL: exit %d\n", got == cl ? WEXITSTATUS(status) : -1);
	return 0;
}
