// Signals whose default action ends the process, blocked and not: a
// blocked one stays pending (sigwait, sigtimedwait and sigpending see it;
// unblocking it then ends the process), a process-directed one goes to a
// thread that does not block it, and an unblocked one ends the process
// even in a blocking read. Each case runs in a child; the parent prints
// how the child ended.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static void *idle(void *a) {
	(void)a;
	for (;;)
		pause();
	return 0;
}

static void block(int sig) {
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_BLOCK, &s, 0);
}

static void child(const char *what) {
	sigset_t s;
	sigemptyset(&s);
	if (!strcmp(what, "blocked-sigwait")) {
		block(SIGTERM);
		kill(getpid(), SIGTERM);
		sigaddset(&s, SIGTERM);
		int sig = 0;
		_exit(sigwait(&s, &sig) == 0 && sig == SIGTERM ? 0 : 3);
	}
	if (!strcmp(what, "blocked-from-parent")) {
		block(SIGUSR1);
		sigaddset(&s, SIGUSR1);
		struct timespec ts = {10, 0};
		siginfo_t si;
		_exit(sigtimedwait(&s, &si, &ts) == SIGUSR1 && si.si_pid == getppid() ? 0 : 3);
	}
	if (!strcmp(what, "blocked-then-unblocked")) {
		block(SIGTERM);
		kill(getpid(), SIGTERM);
		sigset_t p;
		sigpending(&p);
		if (!sigismember(&p, SIGTERM))
			_exit(3);
		sigaddset(&s, SIGTERM);
		sigprocmask(SIG_UNBLOCK, &s, 0);
		_exit(4);
	}
	if (!strcmp(what, "thread-blocked-tgkill")) {
		block(SIGUSR2);
		raise(SIGUSR2);
		sigset_t p;
		sigpending(&p);
		_exit(sigismember(&p, SIGUSR2) ? 0 : 3);
	}
	if (!strcmp(what, "blocked-by-main-only")) {
		pthread_t t;
		pthread_create(&t, 0, idle, 0);
		block(SIGUSR1);
		usleep(100000);
		kill(getpid(), SIGUSR1);
		sleep(5);
		_exit(3);
	}
	if (!strcmp(what, "unblocked")) {
		kill(getpid(), SIGTERM);
		sleep(5);
		_exit(3);
	}
	if (!strcmp(what, "in-read")) {
		int fd[2];
		char c;
		if (pipe(fd) == 0)
			read(fd[0], &c, 1);
		_exit(3);
	}
	_exit(99);
}

int main(void) {
	const char *cases[] = {"blocked-sigwait", "blocked-from-parent", "blocked-then-unblocked",
			       "thread-blocked-tgkill", "blocked-by-main-only", "unblocked", "in-read"};
	for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
		fflush(stdout);
		pid_t p = fork();
		if (p == 0)
			child(cases[i]);
		if (!strcmp(cases[i], "blocked-from-parent")) {
			usleep(200000);
			kill(p, SIGUSR1);
		}
		if (!strcmp(cases[i], "in-read")) {
			usleep(200000);
			kill(p, SIGTERM);
		}
		int st;
		waitpid(p, &st, 0);
		if (WIFEXITED(st))
			printf("%s: exit %d\n", cases[i], WEXITSTATUS(st));
		else
			printf("%s: signal %d\n", cases[i], WTERMSIG(st));
	}
	return 0;
}
