// signalfds held across a kill of the remote sentry (the test kills it
// while this program waits for the file "go"; phase1 tells it the state
// is set up): a mask changed after creation, O_NONBLOCK, a hole in the
// fd numbers, an epoll watching one, and a signal left pending.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("phase1");
	sigset_t m, usr2;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int a = signalfd(-1, &m, SFD_NONBLOCK);
	int hole = dup(0);
	int b = signalfd(-1, &m, 0);
	close(hole);
	TRYN("narrow b", signalfd(b, &usr2, 0) == b);
	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 9}, got;
	epoll_ctl(ep, EPOLL_CTL_ADD, a, &e);
	raise(SIGUSR1);
	close(open("phase1", O_CREAT | O_WRONLY, 0644));
	while (access("go", F_OK) != 0)
		nanosleep(&(struct timespec){0, 5000000}, NULL);

	printf("fds %d %d flags a nonblock %d b nonblock %d\n", a, b, (fcntl(a, F_GETFL) & O_NONBLOCK) != 0,
	       (fcntl(b, F_GETFL) & O_NONBLOCK) != 0);
	TRYN("epoll pending", epoll_wait(ep, &got, 1, 0));
	printf("epoll data %u\n", got.data.u32);
	struct signalfd_siginfo si;
	TRYN("b skips usr1", poll(&(struct pollfd){.fd = b, .events = POLLIN}, 1, 0));
	TRYN("read a", read(a, &si, sizeof si));
	printf("signo %u\n", si.ssi_signo);
	TRYN("read a empty", read(a, &si, sizeof si));
	pid_t parent = getpid(), c = fork();
	if (c == 0) {
		nanosleep(&(struct timespec){0, 50000000}, NULL);
		kill(parent, SIGUSR2);
		_exit(0);
	}
	TRYN("blocking read b", read(b, &si, sizeof si));
	printf("signo %u\n", si.ssi_signo);
	waitpid(c, NULL, 0);
	return 0;
}
