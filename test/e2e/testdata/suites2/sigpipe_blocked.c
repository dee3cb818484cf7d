// SIGPIPE of a write to a pipe without readers: it kills at once when
// unblocked; blocked, the write fails with EPIPE, SIGPIPE stays pending
// (sigpending, sigtimedwait take it with SI_USER), and it kills when
// unblocked (LTP writev01). Each case in a child; the parent reports.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int broken_pipe(void) {
	int p[2];
	if (pipe(p) != 0)
		exit(10);
	close(p[0]);
	return p[1];
}

static void block_sigpipe(void) {
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	sigprocmask(SIG_BLOCK, &s, NULL);
}

static void pending(void) {
	sigset_t s;
	sigpending(&s);
	printf("SIGPIPE pending: %d\n", sigismember(&s, SIGPIPE));
}

static void unblocked(void) {
	int fd = broken_pipe();
	write(fd, "x", 1);
	printf("survived the write\n");
}

static void blocked_then_taken(void) {
	block_sigpipe();
	int fd = broken_pipe();
	int r = write(fd, "x", 1);
	printf("write: %d %s\n", r, strerror(errno));
	pending();
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	siginfo_t si;
	struct timespec ts = {1, 0};
	int sig = sigtimedwait(&s, &si, &ts);
	printf("sigtimedwait: %d code %d pid ok %d\n", sig, si.si_code, si.si_pid == getpid());
	pending();
}

static void blocked_then_unblocked(void) {
	block_sigpipe();
	int fd = broken_pipe();
	int r = write(fd, "x", 1);
	printf("write: %d %s\n", r, strerror(errno));
	pending();
	fflush(stdout);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	printf("survived the unblock\n");
}

static void ignored(void) {
	signal(SIGPIPE, SIG_IGN);
	int fd = broken_pipe();
	int r = write(fd, "x", 1);
	printf("write: %d %s\n", r, strerror(errno));
	pending();
}

int main(void) {
	struct {
		const char *name;
		void (*f)(void);
	} cases[] = {
		{"unblocked", unblocked},
		{"blocked, then taken", blocked_then_taken},
		{"blocked, then unblocked", blocked_then_unblocked},
		{"ignored", ignored},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		printf("%s:\n", cases[i].name);
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			cases[i].f();
			fflush(stdout);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		if (WIFSIGNALED(st))
			printf("  killed by %d\n", WTERMSIG(st));
		else
			printf("  exit %d\n", WEXITSTATUS(st));
	}
	return 0;
}
