// Signals whose default action ends the process, blocked and not: a
// blocked one stays pending (sigwait, sigtimedwait and sigpending see it;
// unblocking it then ends the process), a process-directed one goes to a
// thread that does not block it, and an unblocked one ends the process
// even in a blocking read. Ignored signals (SIG_IGN, SIGCHLD's default)
// are queued while blocked, and dropped, without interrupting a wait,
// when not. Each case runs in a child; the parent prints how the child
// ended.
#define _GNU_SOURCE
#include <errno.h>
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

// ready is a pipe on which a child whose case the parent sends a signal
// says it is set up for it (a fixed delay was too short for a child
// started on a loaded machine).
static int ready[2];

static void say_ready(void) {
	if (write(ready[1], "r", 1) != 1)
		_exit(98);
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
		say_ready();
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
	if (!strcmp(what, "ignored-blocked")) {
		signal(SIGUSR2, SIG_IGN);
		block(SIGUSR2);
		kill(getpid(), SIGUSR2);
		sigaddset(&s, SIGUSR2);
		int sig = 0;
		if (sigwait(&s, &sig) != 0 || sig != SIGUSR2)
			_exit(3);
		say_ready();
		// Again, sent by the parent while the wait runs (its set
		// unblocked then, as Linux does, but blocked before it).
		struct timespec ts = {10, 0};
		_exit(sigtimedwait(&s, 0, &ts) == SIGUSR2 ? 0 : 4);
	}
	if (!strcmp(what, "ignored-unblocked")) {
		signal(SIGUSR2, SIG_IGN);
		sigaddset(&s, SIGUSR1);
		block(SIGUSR1);
		say_ready();
		struct timespec ts = {0, 600000000};
		_exit(sigtimedwait(&s, 0, &ts) == -1 && errno == EAGAIN ? 0 : 3);
	}
	if (!strcmp(what, "sigchld-blocked")) {
		block(SIGCHLD);
		if (fork() == 0)
			_exit(0);
		sigaddset(&s, SIGCHLD);
		siginfo_t si;
		_exit(sigwaitinfo(&s, &si) == SIGCHLD && si.si_code == CLD_EXITED ? 0 : 3);
	}
	if (!strcmp(what, "in-read")) {
		int fd[2];
		char c;
		if (pipe(fd) == 0) {
			say_ready();
			read(fd[0], &c, 1);
		}
		_exit(3);
	}
	_exit(99);
}

// initTakes blocks SIGUSR1 and takes it with sigtimedwait from a child
// that sends it (under do this process is the sandbox's init, whose
// default disposition ignores a signal: blocked, it is queued still, as
// tini relies on), then unblocks it again.
static void initTakes(void) {
	sigset_t s, old;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigprocmask(SIG_BLOCK, &s, &old);
	pid_t p = fork();
	if (p == 0) {
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	struct timespec ts = {5, 0};
	int got = sigtimedwait(&s, 0, &ts);
	printf("init took: %d\n", got);
	waitpid(p, 0, 0);
	sigprocmask(SIG_SETMASK, &old, 0);
}

int main(void) {
	if (pipe(ready) != 0)
		return 1;
	initTakes();
	// send: the signal the parent sends the child 200 ms after it said it
	// is ready (0: none).
	const struct {
		const char *name;
		int send;
	} cases[] = {
		{"blocked-sigwait", 0},      {"blocked-from-parent", SIGUSR1},
		{"blocked-then-unblocked", 0}, {"thread-blocked-tgkill", 0},
		{"blocked-by-main-only", 0}, {"unblocked", 0},
		{"in-read", SIGTERM},        {"ignored-blocked", SIGUSR2},
		{"ignored-unblocked", SIGUSR2}, {"sigchld-blocked", 0},
	};
	for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
		fflush(stdout);
		pid_t p = fork();
		if (p == 0)
			child(cases[i].name);
		if (cases[i].send) {
			char c;
			if (read(ready[0], &c, 1) != 1)
				return 1;
			usleep(200000);
			kill(p, cases[i].send);
		}
		int st;
		waitpid(p, &st, 0);
		if (WIFEXITED(st))
			printf("%s: exit %d\n", cases[i].name, WEXITSTATUS(st));
		else
			printf("%s: signal %d\n", cases[i].name, WTERMSIG(st));
	}
	return 0;
}
