// File leases (F_SETLEASE, F_GETLEASE, breaking by another process's open
// or truncate, lease-break-time) and file owners (F_SETOWN, F_SETOWN_EX,
// F_SETSIG, O_ASYNC): LTP fcntl23-27, fcntl31-33.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *lt(long v) {
	switch (v) {
	case F_RDLCK: return "F_RDLCK";
	case F_WRLCK: return "F_WRLCK";
	case F_UNLCK: return "F_UNLCK";
	}
	return "?";
}

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %ld\n", what, r);
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

// waitsig waits up to 5 s for a signal of set and prints it.
static void waitsig(sigset_t *set, int fd) {
	struct timespec to = {5, 0};
	siginfo_t si;
	int s = sigtimedwait(set, &si, &to);
	if (s < 0) {
		printf("  no signal: %s\n", strerrorname_np(errno));
		return;
	}
	printf("  signal %s", sigabbrev_np(s));
	if (s != SIGIO)
		printf(" code %d fd-matches %d", si.si_code, si.si_fd == fd);
	printf("\n");
}

static int res[2]; // the breakers' reports

// breaker forks a child that does op on "f" and reports how long it took
// (printed by reap, after the parent's own lines).
static pid_t breaker(const char *op) {
	pid_t pid = fork();
	if (pid)
		return pid;
	usleep(200000);
	double t0 = now();
	int r;
	if (!strcmp(op, "truncate"))
		r = truncate("f", 0);
	else if (!strcmp(op, "rdonly-nonblock"))
		r = open("f", O_RDONLY | O_NONBLOCK);
	else
		r = open("f", !strcmp(op, "rdonly") ? O_RDONLY : O_WRONLY);
	double dt = now() - t0;
	dprintf(res[1], "  child %s: %s, %s\n", op, r < 0 ? strerrorname_np(errno) : "ok", dt < 3 ? "within 3s" : "slow");
	exit(0);
}

static void reap(pid_t c) {
	char buf[256];
	waitpid(c, NULL, 0);
	ssize_t n = read(res[0], buf, sizeof(buf));
	if (n > 0)
		fwrite(buf, 1, n, stdout);
}

// drain takes the pending signals of set.
static void drain(sigset_t *set) {
	struct timespec zero = {0, 0};
	while (sigtimedwait(set, NULL, &zero) > 0)
		;
}

int main(int argc, char **argv) {
	if (argc != 2 || chdir(argv[1])) {
		perror("usage: leases DIR");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	close(open("f", O_CREAT | O_RDWR, 0644));
	pipe(res);

	// Taking and dropping leases.
	int rd = open("f", O_RDONLY);
	printf("getlease new: %s\n", lt(fcntl(rd, F_GETLEASE)));
	show("setlease rdlck on O_RDONLY", fcntl(rd, F_SETLEASE, F_RDLCK));
	printf("getlease: %s\n", lt(fcntl(rd, F_GETLEASE)));
	show("setlease unlck", fcntl(rd, F_SETLEASE, F_UNLCK));
	show("setlease unlck again", fcntl(rd, F_SETLEASE, F_UNLCK));
	show("setlease bad type", fcntl(rd, F_SETLEASE, 7));
	int rw = open("f", O_RDWR);
	show("setlease wrlck with two opens", fcntl(rw, F_SETLEASE, F_WRLCK));
	close(rd);
	show("setlease rdlck on O_RDWR", fcntl(rw, F_SETLEASE, F_RDLCK));
	show("setlease wrlck on O_RDWR", fcntl(rw, F_SETLEASE, F_WRLCK));
	printf("getlease: %s\n", lt(fcntl(rw, F_GETLEASE)));
	close(rw);
	int wo = open("f", O_WRONLY);
	show("setlease rdlck on O_WRONLY", fcntl(wo, F_SETLEASE, F_RDLCK));
	close(wo);
	int p[2];
	pipe(p);
	show("setlease on a pipe", fcntl(p[0], F_SETLEASE, F_RDLCK));

	// Breaking: a read open downgrades a write lease, a write open or a
	// truncate removes it; O_NONBLOCK fails at once.
	static const struct {
		int lease;
		const char *op;
		int then;
	} cases[] = {
		{F_WRLCK, "rdonly", F_RDLCK},
		{F_WRLCK, "wronly", F_UNLCK},
		{F_RDLCK, "wronly", F_UNLCK},
		{F_RDLCK, "truncate", F_UNLCK},
		{F_WRLCK, "rdonly-nonblock", F_UNLCK},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		printf("%s lease, child %s:\n", lt(cases[i].lease), cases[i].op);
		int fd = open("f", O_RDONLY);
		show("  setlease", fcntl(fd, F_SETLEASE, cases[i].lease));
		pid_t c = breaker(cases[i].op);
		waitsig(&set, fd);
		printf("  getlease while breaking: %s\n", lt(fcntl(fd, F_GETLEASE)));
		if (cases[i].then == F_RDLCK)
			show("  downgrade", fcntl(fd, F_SETLEASE, F_RDLCK));
		else if (strcmp(cases[i].op, "truncate") && cases[i].lease == F_WRLCK)
			show("  downgrade", fcntl(fd, F_SETLEASE, F_RDLCK));
		show("  unlock", fcntl(fd, F_SETLEASE, F_UNLCK));
		reap(c);
		close(fd);
	}

	// lease-break-time: a holder that does not answer loses its lease.
	FILE *k = fopen("/proc/sys/fs/lease-break-time", "r");
	int old = -1;
	if (!k || fscanf(k, "%d", &old) != 1)
		printf("lease-break-time unreadable\n");
	if (k)
		fclose(k);
	k = fopen("/proc/sys/fs/lease-break-time", "w");
	if (!k || fprintf(k, "1\n") < 0 || fclose(k))
		printf("lease-break-time not writable\n");
	int fd = open("f", O_RDONLY);
	show("silent holder: setlease", fcntl(fd, F_SETLEASE, F_WRLCK));
	pid_t c = breaker("wronly");
	reap(c);
	printf("getlease after the break time: %s\n", lt(fcntl(fd, F_GETLEASE)));
	close(fd);
	k = fopen("/proc/sys/fs/lease-break-time", "w");
	if (k) {
		fprintf(k, "%d\n", old);
		fclose(k);
	}
	drain(&set); // the silent holder's SIGIO

	// Owners and O_ASYNC.
	struct f_owner_ex ex;
	show("getown_ex", fcntl(p[0], F_GETOWN_EX, &ex));
	printf("  type %d pid %d\n", ex.type, ex.pid);
	show("getown", fcntl(p[0], F_GETOWN));
	show("getsig", fcntl(p[0], F_GETSIG));
	show("setsig 65", fcntl(p[0], F_SETSIG, 65));
	show("setown missing pid", fcntl(p[0], F_SETOWN, 4000000));
	ex.type = 9;
	ex.pid = getpid();
	show("setown_ex bad type", fcntl(p[0], F_SETOWN_EX, &ex));
	setpgid(0, 0);
	show("setown -pgrp", fcntl(p[0], F_SETOWN, -getpgrp()));
	show("getown is -pgrp", fcntl(p[0], F_GETOWN) == -getpgrp());
	fcntl(p[0], F_GETOWN_EX, &ex);
	printf("  type %d pid-is-pgrp %d\n", ex.type, ex.pid == getpgrp());
	ex.type = F_OWNER_TID;
	ex.pid = gettid();
	show("setown_ex tid", fcntl(p[0], F_SETOWN_EX, &ex));
	show("getown is tid", fcntl(p[0], F_GETOWN) == gettid());
	show("setsig SIGUSR1", fcntl(p[0], F_SETSIG, SIGUSR1));
	show("getsig", fcntl(p[0], F_GETSIG));
	show("setfl O_ASYNC", fcntl(p[0], F_SETFL, O_ASYNC));
	if (fork() == 0) {
		usleep(200000);
		write(p[1], "x", 1);
		exit(0);
	}
	printf("O_ASYNC pipe, SIGUSR1 to the thread:\n");
	waitsig(&set, p[0]);
	char b;
	read(p[0], &b, 1);
	wait(NULL);
	show("setsig 0", fcntl(p[0], F_SETSIG, 0));
	show("setown pid", fcntl(p[0], F_SETOWN, getpid()));
	write(p[1], "y", 1);
	printf("O_ASYNC pipe, default signal to the process:\n");
	waitsig(&set, p[0]);
	return 0;
}
