// A TCP and UDP program talking to a peer outside the sandbox on
// 127.0.0.1 (--network=host): "serve PORT" waits (in epoll) for the
// peer's connection and datagram and answers them; "connect PORT"
// connects (non-blocking, then poll) and sends to the peer's; "probe
// PORT" tries one connection. The test
// runs it natively and in the sandbox with the same peer and compares.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in loopback(int port) {
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static void waitfor(int ep, int fd, unsigned events, const char *what) {
	struct epoll_event ev = {.events = events, .data.fd = fd}, out;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) printf("%s: epoll_ctl errno %d\n", what, errno);
	int n = epoll_wait(ep, &out, 1, 20000);
	printf("%s: epoll_wait %d fd match %d\n", what, n, n == 1 && out.data.fd == fd);
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
}

// readall reads until end of file; it prints what came.
static void readall(int s, const char *what) {
	char buf[256];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(s, buf + got, sizeof buf - 1 - got);
		if (n < 0) {
			printf("%s: read errno %d\n", what, errno);
			return;
		}
		if (n == 0) break;
		got += n;
	}
	buf[got] = 0;
	printf("%s: %zu bytes: %s", what, got, buf);
}

static int serve(int port) {
	struct sockaddr_in a = loopback(port);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4) < 0) {
		printf("listen: errno %d\n", errno);
		return 1;
	}
	int v = 0;
	socklen_t vl = sizeof v;
	getsockopt(ls, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl);
	printf("listening: acceptconn %d\n", v);
	int us = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(us, (struct sockaddr *)&a, sizeof a) < 0) printf("udp bind: errno %d\n", errno);
	// Ready: the peer may now connect.
	printf("ready\n");
	fflush(stdout);
	fprintf(stderr, "ready\n");
	waitfor(ep, ls, EPOLLIN, "tcp listener");
	struct sockaddr_in peer;
	socklen_t pl = sizeof peer;
	int s = accept4(ls, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
	printf("accept: %d peer %s family %d\n", s >= 0, inet_ntoa(peer.sin_addr), peer.sin_family);
	waitfor(ep, s, EPOLLIN, "tcp conn");
	char line[128] = {0};
	ssize_t n = recv(s, line, sizeof line - 1, 0);
	printf("recv: %zd: %s", n, line);
	char reply[200];
	int rl = snprintf(reply, sizeof reply, "echo: %s", line);
	printf("send: %zd\n", send(s, reply, rl, MSG_NOSIGNAL));
	shutdown(s, SHUT_WR);
	readall(s, "tcp after shutdown");
	close(s);

	waitfor(ep, us, EPOLLIN, "udp");
	char dg[128] = {0};
	pl = sizeof peer;
	n = recvfrom(us, dg, sizeof dg - 1, 0, (struct sockaddr *)&peer, &pl);
	printf("recvfrom: %zd from %s: %s\n", n, inet_ntoa(peer.sin_addr), dg);
	printf("sendto: %zd\n", sendto(us, "pong udp", 8, 0, (struct sockaddr *)&peer, pl));
	return 0;
}

static int connectto(int port) {
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	printf("connect: %d errno %s\n", r, r == 0 ? "none" : (errno == EINPROGRESS ? "EINPROGRESS" : strerror(errno)));
	struct pollfd p = {.fd = s, .events = POLLOUT};
	printf("poll: %d revents out %d\n", poll(&p, 1, 20000), !!(p.revents & POLLOUT));
	int err = -1;
	socklen_t el = sizeof err;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
	printf("so_error: %d\n", err);
	struct sockaddr_in peer;
	socklen_t pl = sizeof peer;
	getpeername(s, (struct sockaddr *)&peer, &pl);
	printf("peer: %s port matches %d\n", inet_ntoa(peer.sin_addr), ntohs(peer.sin_port) == port);
	int one = 1;
	printf("nodelay: %d\n", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
	fcntl(s, F_SETFL, 0);
	const char *msg = "hello from inside\n";
	printf("write: %zd\n", write(s, msg, strlen(msg)));
	readall(s, "tcp reply");
	close(s);

	int us = socket(AF_INET, SOCK_DGRAM, 0);
	printf("sendto: %zd\n", sendto(us, "ping udp", 8, 0, (struct sockaddr *)&a, sizeof a));
	p = (struct pollfd){.fd = us, .events = POLLIN};
	printf("poll udp: %d\n", poll(&p, 1, 20000));
	int q = 0;
	ioctl(us, FIONREAD, &q);
	char dg[64] = {0};
	ssize_t n = recv(us, dg, sizeof dg - 1, MSG_TRUNC);
	printf("recv udp: %zd (fionread %d): %s\n", n, q, dg);
	return 0;
}

// probe makes one blocking connection attempt and says how it went.
static int probe(int port) {
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	printf("probe: %d errno %d\n", r, r < 0 ? errno : 0);
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3) return 2;
	int port = atoi(argv[2]);
	if (!strcmp(argv[1], "serve")) return serve(port);
	if (!strcmp(argv[1], "connect")) return connectto(port);
	if (!strcmp(argv[1], "probe")) return probe(port);
	return 2;
}
