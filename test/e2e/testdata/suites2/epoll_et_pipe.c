// Edge-triggered epoll on both ends of a one-page pipe: a write wakes the
// read end, a read does not (half a page read: no event at all), a read
// that makes room for PIPE_BUF bytes wakes the write end, closing an end
// wakes the other (LTP epoll_wait06). And a poll for POLLOUT on a full
// pipe wakes when a reader empties it; O_ASYNC on the read end signals
// each write into an empty pipe, also after a read emptied it (LTP
// fcntl31).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static int fds[2], ep;
static char buf[4096];

static void wait_once(const char *when) {
	struct epoll_event evs[2];
	int n = epoll_wait(ep, evs, 2, 0);
	printf("%s: %d event(s)", when, n);
	for (int i = 0; i < n; i++)
		printf(" [%s %#x]", evs[i].data.fd == fds[0] ? "read end" : "write end", evs[i].events);
	printf("\n");
}

static void *drain(void *arg) {
	(void)arg;
	usleep(200000);
	read(fds[0], buf, sizeof buf);
	return NULL;
}

int main(void) {
	if (pipe2(fds, O_NONBLOCK) != 0 || fcntl(fds[1], F_SETPIPE_SZ, 4096) != 4096) {
		perror("setup");
		return 1;
	}
	ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = fds[0]};
	epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev);
	ev = (struct epoll_event){.events = EPOLLOUT | EPOLLET, .data.fd = fds[1]};
	epoll_ctl(ep, EPOLL_CTL_ADD, fds[1], &ev);
	wait_once("after add");
	wait_once("again");
	memset(buf, 'a', sizeof buf);
	printf("write: %zd\n", write(fds[1], buf, sizeof buf));
	wait_once("after filling");
	wait_once("again");
	printf("read: %zd\n", read(fds[0], buf, 2048));
	wait_once("after reading half");
	printf("read: %zd\n", read(fds[0], buf, 2048));
	wait_once("after emptying");
	printf("write: %zd\n", write(fds[1], buf, 100));
	wait_once("after a small write");
	printf("write: %zd\n", write(fds[1], buf, 100));
	wait_once("after another");
	read(fds[0], buf, sizeof buf);
	wait_once("after reading all");

	// Full again; a thread empties it while poll waits for room.
	write(fds[1], buf, sizeof buf);
	pthread_t th;
	pthread_create(&th, NULL, drain, NULL);
	struct pollfd p = {.fd = fds[1], .events = POLLOUT};
	int n = poll(&p, 1, 10000);
	printf("poll for room: %d revents %#x\n", n, p.revents);
	pthread_join(th, NULL);
	wait_once("after the drain");

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	fcntl(fds[0], F_SETOWN, getpid());
	fcntl(fds[0], F_SETSIG, SIGUSR1);
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_ASYNC);
	for (int round = 1; round <= 3; round++) {
		write(fds[1], "c", 1);
		struct timespec ts = {5, 0};
		int sig = sigtimedwait(&usr1, NULL, &ts);
		printf("O_ASYNC write %d: signal %d\n", round, sig);
		read(fds[0], buf, sizeof buf);
	}

	close(fds[1]);
	wait_once("after closing the write end");
	return 0;
}
