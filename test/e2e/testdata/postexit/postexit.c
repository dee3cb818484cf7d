/* postexit: children that end with exit_group, whose exits the client
 * posts (sentry/client/postexit.go), checked by what a parent sees: each
 * fork'd and vfork'd child's exit status through wait4, one SIGCHLD per
 * child, a vfork parent resuming after its child's _exit, and EPIPE on a
 * pipe whose last reader a child held when it exited. argv[1] is the
 * rounds of fork+exit and vfork+_exit. */
#define _GNU_SOURCE
#include <errno.h>
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

/* exit_group directly: glibc's exit runs atexit handlers and flushes
 * stdio, which a child must not do twice. */
static void die(int code) { syscall(SYS_exit_group, code); }

static int reap(pid_t pid) {
	int status;
	pid_t got;
	while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
	}
	if (got != pid) {
		perror("waitpid");
		exit(1);
	}
	return status;
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGCHLD, &sa, NULL)) {
		perror("sigaction");
		return 1;
	}
	long sum = 0;
	for (int i = 0; i < rounds; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			die(i % 200 + 1);
		int st = reap(pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != i % 200 + 1) {
			printf("fork round %d: status %#x\n", i, st);
			return 1;
		}
		sum += WEXITSTATUS(st);
	}
	printf("fork: %d children, exit codes sum %ld\n", rounds, sum);

	sum = 0;
	for (int i = 0; i < rounds; i++) {
		volatile int ran = 0;
		pid_t pid = vfork();
		if (pid < 0) {
			perror("vfork");
			return 1;
		}
		if (pid == 0) {
			ran = 1;
			_exit(i % 100 + 7);
		}
		if (!ran) {
			printf("vfork round %d: the parent ran before its child's _exit\n", i);
			return 1;
		}
		int st = reap(pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != i % 100 + 7) {
			printf("vfork round %d: status %#x\n", i, st);
			return 1;
		}
		sum += WEXITSTATUS(st);
	}
	printf("vfork: %d children, exit codes sum %ld\n", rounds, sum);

	/* A child holds the last read end of a pipe the parent has written
	 * to (its room known), and exits: the parent's next write fails. */
	signal(SIGPIPE, SIG_IGN);
	int p[2];
	if (pipe(p)) {
		perror("pipe");
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		char c;
		if (read(p[0], &c, 1) != 1)
			die(2);
		die(0);
	}
	close(p[0]);
	if (write(p[1], "a", 1) != 1) {
		perror("write");
		return 1;
	}
	int st = reap(pid);
	ssize_t n = write(p[1], "b", 1);
	printf("pipe: child status %#x, write after its exit: %zd %s\n", st, n, n < 0 ? strerror(errno) : "");

	/* Every SIGCHLD arrived (standard signals coalesce, so at least one
	 * per reaped round is not guaranteed: count that none came late). */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	printf("sigchld: %s\n", chlds > 0 ? "seen" : "none");
	return 0;
}
