// Two loopback TCP connections across a server kill (serverKillRun): the
// program makes them and an epoll instance watching the first, says
// "ready" (a file) and polls the first for up to 3 s, during which the
// test kills the remote sentry: in the sandbox both come back reset.
// Natively (or when the poll ended first) the program resets them
// itself: the accepted ends close with SO_LINGER 0. From there on the
// connecting ends must report what Linux reports for a reset connection:
// poll's and epoll's events with POLLERR until the reset is taken,
// SO_ERROR ECONNRESET once then 0, a read ECONNRESET (when SO_ERROR did
// not take it first) then end of file, a send EPIPE.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static int revents(int s) {
	struct pollfd p = {.fd = s, .events = POLLIN | POLLOUT | POLLRDHUP};
	if (poll(&p, 1, 0) != 1) return -1;
	return p.revents;
}

static int soerror(int s) {
	int e = -1;
	socklen_t l = sizeof e;
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l) < 0) return -errno;
	return e;
}

static void epollEvents(const char *what, int ep) {
	struct epoll_event ev = {0};
	int n = epoll_wait(ep, &ev, 1, 0);
	printf("%s: epoll_wait %d events %#x\n", what, n, ev.events);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
		printf("listen: errno %d\n", errno);
		return 1;
	}
	int c[2], acc[2];
	for (int i = 0; i < 2; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c[i], (struct sockaddr *)&a, sizeof a) < 0 || (acc[i] = accept(ls, NULL, NULL)) < 0) {
			printf("connect %d: errno %d\n", i, errno);
			return 1;
		}
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.fd = c[0]};
	epoll_ctl(ep, EPOLL_CTL_ADD, c[0], &ev);
	printf("connected: poll %#x\n", revents(c[0]));
	close(open("ready", O_CREAT | O_WRONLY, 0644));
	struct pollfd p = {.fd = c[0], .events = POLLIN};
	poll(&p, 1, 3000);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	for (int i = 0; i < 2; i++) {
		setsockopt(acc[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(acc[i]);
		p.fd = c[i];
		poll(&p, 1, -1);
	}
	char buf[8];
	printf("reset: poll %#x\n", revents(c[0]));
	epollEvents("reset", ep);
	printf("reset: SO_ERROR %d\n", soerror(c[0]));
	printf("then: SO_ERROR %d\n", soerror(c[0]));
	printf("then: poll %#x\n", revents(c[0]));
	epollEvents("then", ep);
	TRYN("then: read", read(c[0], buf, sizeof buf));
	TRYN("then: send", send(c[0], "x", 1, MSG_NOSIGNAL));
	printf("second reset: poll %#x\n", revents(c[1]));
	TRYN("second: read", read(c[1], buf, sizeof buf));
	printf("second then: SO_ERROR %d\n", soerror(c[1]));
	printf("second then: poll %#x\n", revents(c[1]));
	TRYN("second then: read", read(c[1], buf, sizeof buf));
	TRYN("second then: send", send(c[1], "x", 1, MSG_NOSIGNAL));
	return 0;
}
