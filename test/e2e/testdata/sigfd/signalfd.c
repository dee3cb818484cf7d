// signalfd: reads of signalfd_siginfo records (the signal is dequeued,
// its handler does not run), several records in one read, readv, poll,
// select and epoll readiness (a signal arriving while the wait blocks),
// SFD_NONBLOCK and SFD_CLOEXEC, changing the mask of an existing
// signalfd, a blocking read woken by another process's kill, default
// dispositions (a fatal one and SIGCHLD) read instead of acted on,
// inheritance across fork and exec, and the errors.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static volatile int handled;
static void handler(int sig) { handled = sig; }

static void show(const char *what, struct signalfd_siginfo *si) {
	printf("%s: signo %u code %d pid_is_self %d uid %u int %d status %d\n", what, si->ssi_signo, si->ssi_code,
	       si->ssi_pid == (uint32_t)getpid(), si->ssi_uid, si->ssi_int, si->ssi_status);
}

// killLater forks a child that sends sig to the parent after ms.
static pid_t killLater(int sig, int ms) {
	pid_t parent = getpid();
	pid_t c = fork();
	if (c == 0) {
		nanosleep(&(struct timespec){0, ms * 1000000L}, NULL);
		kill(parent, sig);
		_exit(0);
	}
	return c;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 2 && strcmp(argv[1], "exec") == 0) {
		// After exec: the inherited signalfd still reads.
		int fd = atoi(argv[2]);
		struct signalfd_siginfo si;
		raise(SIGUSR2);
		TRYN("exec: read", read(fd, &si, sizeof si));
		show("exec", &si);
		TRYN("exec: cloexec fd gone", fcntl(atoi(argv[3]), F_GETFD));
		return 0;
	}
	struct sigaction sa = {.sa_handler = handler};
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);

	TRYN("bad flags", signalfd(-1, &m, 0x1));
	TRYN("bad size", syscall(289 /* signalfd4 */, -1, &m, 4, 0));
	TRYN("not a signalfd", signalfd(1, &m, 0));
	TRYN("bad fd", signalfd(99, &m, 0));

	int fd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
	printf("fd ok %d, cloexec %d, nonblock %d\n", fd >= 0, fcntl(fd, F_GETFD) == FD_CLOEXEC,
	       (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	struct signalfd_siginfo si[4];
	TRYN("read empty", read(fd, si, sizeof si));
	TRYN("read short", read(fd, si, 10));
	TRYN("pread", pread(fd, si, sizeof si, 0));
	TRYN("write", write(fd, si, sizeof si));

	raise(SIGUSR1);
	sigqueue(getpid(), SIGUSR2, (union sigval){.sival_int = 42});
	struct pollfd p = {.fd = fd, .events = POLLIN};
	TRYN("poll ready", poll(&p, 1, 0));
	printf("revents %#x\n", p.revents);
	sigset_t pend;
	sigpending(&pend);
	printf("pending usr1 %d usr2 %d\n", sigismember(&pend, SIGUSR1), sigismember(&pend, SIGUSR2));
	TRYN("read two", read(fd, si, sizeof si));
	show("first", &si[0]);
	show("second", &si[1]);
	printf("handler ran %d\n", handled);
	sigpending(&pend);
	printf("pending after read usr1 %d usr2 %d\n", sigismember(&pend, SIGUSR1), sigismember(&pend, SIGUSR2));
	TRYN("poll empty", poll(&p, 1, 0));

	// readv: one record split over two buffers.
	raise(SIGUSR2);
	char a[100], b[100];
	struct iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
	TRYN("readv", readv(fd, iov, 2));
	struct signalfd_siginfo rv;
	memcpy(&rv, a, 100);
	memcpy((char *)&rv + 100, b, sizeof rv - 100);
	show("readv", &rv);

	// Waits that block until a signal comes from another process.
	pid_t c = killLater(SIGUSR2, 50);
	TRYN("poll blocking", poll(&p, 1, 5000));
	waitpid(c, NULL, 0);
	TRYN("read after poll", read(fd, si, sizeof si));
	show("poll", &si[0]);

	c = killLater(SIGUSR1, 50);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(fd, &rs);
	TRYN("select blocking", select(fd + 1, &rs, NULL, NULL, &(struct timeval){5, 0}));
	printf("select set %d\n", FD_ISSET(fd, &rs));
	waitpid(c, NULL, 0);
	TRYN("read after select", read(fd, si, sizeof si));

	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 7}, got;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
	TRYN("epoll empty", epoll_wait(ep, &got, 1, 0));
	c = killLater(SIGUSR2, 50);
	TRYN("epoll blocking", epoll_wait(ep, &got, 1, 5000));
	printf("epoll data %u events %#x\n", got.data.u32, got.events);
	waitpid(c, NULL, 0);
	TRYN("read after epoll", read(fd, si, sizeof si));
	TRYN("epoll after read", epoll_wait(ep, &got, 1, 0));

	// Changing the mask: SIGUSR1 no longer read.
	sigset_t only2;
	sigemptyset(&only2);
	sigaddset(&only2, SIGUSR2);
	TRYN("update mask", signalfd(fd, &only2, 0) == fd);
	raise(SIGUSR1);
	TRYN("read usr1 not in mask", read(fd, si, sizeof si));
	signalfd(fd, &m, 0);
	TRYN("read usr1 back in mask", read(fd, si, sizeof si));
	show("mask", &si[0]);

	// A blocking read (no SFD_NONBLOCK) woken by a kill.
	int bfd = signalfd(-1, &m, 0);
	c = killLater(SIGUSR1, 50);
	TRYN("blocking read", read(bfd, si, sizeof si));
	show("blocking", &si[0]);
	waitpid(c, NULL, 0);

	// Default dispositions: a blocked SIGTERM (fatal by default) and
	// SIGCHLD (ignored by default) are read, not acted on.
	sigset_t dm;
	sigemptyset(&dm);
	sigaddset(&dm, SIGTERM);
	sigaddset(&dm, SIGCHLD);
	sigprocmask(SIG_BLOCK, &dm, NULL);
	int dfd = signalfd(-1, &dm, SFD_NONBLOCK);
	kill(getpid(), SIGTERM);
	TRYN("read sigterm", read(dfd, si, sizeof si));
	show("sigterm", &si[0]);
	c = fork();
	if (c == 0)
		_exit(3);
	TRYN("poll sigchld", poll(&(struct pollfd){.fd = dfd, .events = POLLIN}, 1, 5000));
	TRYN("read sigchld", read(dfd, si, sizeof si));
	printf("sigchld: signo %u code %d pid_is_child %d status %d\n", si[0].ssi_signo, si[0].ssi_code,
	       si[0].ssi_pid == (uint32_t)c, si[0].ssi_status);
	waitpid(c, NULL, 0);

	// Fork: the child's signalfd reads the child's own signals.
	c = fork();
	if (c == 0) {
		raise(SIGUSR1);
		struct signalfd_siginfo s;
		TRYN("child: read", read(fd, &s, sizeof s));
		show("child", &s);
		TRYN("child: read again", read(fd, &s, sizeof s));
		_exit(0);
	}
	waitpid(c, NULL, 0);
	TRYN("parent: nothing pending", read(fd, si, sizeof si));

	// Exec: bfd (no CLOEXEC) survives, fd (CLOEXEC) does not; the mask
	// is kept across exec.
	c = fork();
	if (c == 0) {
		char a1[16], a2[16];
		snprintf(a1, sizeof a1, "%d", bfd);
		snprintf(a2, sizeof a2, "%d", fd);
		execl("/proc/self/exe", argv[0], "exec", a1, a2, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(c, &st, 0);
	printf("exec child status %d\n", WEXITSTATUS(st));
	return 0;
}
