// Loopback TCP and UDP over IPv4 and IPv6: a forked echo server, ports,
// names, options, non-blocking connect, epoll readiness, errors.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static void tcp_echo(int family, const char *loop) {
	int ls = socket(family, SOCK_STREAM, 0);
	int one = 1;
	TRY("SO_REUSEADDR", setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, loop, &a->sin_addr);
		sl = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (void *)&ss;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, loop, &a->sin6_addr);
		sl = sizeof *a;
	}
	TRY("bind port 0", bind(ls, (struct sockaddr *)&ss, sl));
	TRY("listen", listen(ls, 16));
	socklen_t gl = sizeof ss;
	getsockname(ls, (struct sockaddr *)&ss, &gl);
	int port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
	printf("bound an ephemeral port: %d, len %d\n", port > 1024, gl);
	int v;
	socklen_t vl = sizeof v;
	getsockopt(ls, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl);
	printf("SO_ACCEPTCONN %d\n", v);
	pid_t pid = fork();
	if (pid == 0) {
		int c = socket(family, SOCK_STREAM, 0);
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(c, (struct sockaddr *)&ss, gl) < 0) {
			printf("connect: errno %d\n", errno);
			_exit(1);
		}
		struct sockaddr_storage peer;
		socklen_t pl = sizeof peer;
		getpeername(c, (struct sockaddr *)&peer, &pl);
		int sameport = ntohs(family == AF_INET ? ((struct sockaddr_in *)&peer)->sin_port : ((struct sockaddr_in6 *)&peer)->sin6_port) == port;
		char big[100000];
		for (size_t i = 0; i < sizeof big; i++) big[i] = 'a' + i % 26;
		ssize_t w = write(c, big, sizeof big);
		shutdown(c, SHUT_WR);
		size_t got = 0;
		char buf[8192];
		ssize_t n;
		int same = 1;
		while ((n = read(c, buf, sizeof buf)) > 0) {
			for (ssize_t i = 0; i < n; i++) same &= buf[i] == big[got + i];
			got += n;
		}
		// Printed after the server's lines (it prints before echoing).
		printf("client: peer len %d same port %d\n", pl, sameport);
		printf("client: wrote %zd, echoed %zu, same %d\n", w, got, same);
		_exit(0);
	}
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	int s = accept(ls, (struct sockaddr *)&peer, &pl);
	printf("accepted: %d peer len %d\n", s >= 0, pl);
	char buf[4096];
	ssize_t n;
	size_t total = 0;
	while ((n = read(s, buf, sizeof buf)) > 0) {
		write(s, buf, n);
		total += n;
	}
	printf("server: echoed %zu\n", total);
	close(s);
	int st;
	waitpid(pid, &st, 0);
	printf("client exit %d\n", WEXITSTATUS(st));
	int other = socket(family, SOCK_STREAM, 0);
	TRY("bind taken port", bind(other, (struct sockaddr *)&ss, gl));
	close(other);
	close(ls);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	tcp_echo(AF_INET, "127.0.0.1");
	tcp_echo(AF_INET6, "::1");

	// UDP.
	int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	TRY("udp bind", bind(u1, (struct sockaddr *)&a, sizeof a));
	socklen_t al = sizeof a;
	getsockname(u1, (struct sockaddr *)&a, &al);
	TRYN("udp sendto", sendto(u2, "datagram", 8, 0, (struct sockaddr *)&a, sizeof a));
	char buf[64] = {0};
	struct pollfd pu = {.fd = u1, .events = POLLIN};
	poll(&pu, 1, 1000);
	int q = -1;
	TRYN("udp FIONREAD", ioctl(u1, FIONREAD, &q));
	printf("  queued %d\n", q);
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	TRYN("udp recvfrom", recvfrom(u1, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
	printf("from loopback %d len %d: %s\n", from.sin_addr.s_addr == htonl(INADDR_LOOPBACK), fl, buf);
	sendto(u2, "truncated", 9, 0, (struct sockaddr *)&a, sizeof a);
	TRYN("udp MSG_TRUNC", recv(u1, buf, 3, MSG_TRUNC));
	TRYN("udp empty, nonblocking", recv(u1, buf, 3, MSG_DONTWAIT));
	TRY("udp connect", connect(u2, (struct sockaddr *)&a, sizeof a));
	TRYN("udp send connected", send(u2, "x", 1, 0));
	struct pollfd p = {.fd = u1, .events = POLLIN};
	TRYN("udp poll", poll(&p, 1, 1000));

	// Non-blocking connect and epoll.
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = 0;
	bind(ls, (struct sockaddr *)&a, sizeof a);
	listen(ls, 1);
	al = sizeof a;
	getsockname(ls, (struct sockaddr *)&a, &al);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(c, (struct sockaddr *)&a, sizeof a);
	printf("nonblocking connect: %d\n", r == 0 || errno == EINPROGRESS);
	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLOUT, .data.u32 = 1};
	epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
	e.events = EPOLLIN;
	e.data.u32 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &e);
	struct epoll_event got[4];
	int n = epoll_wait(ep, got, 4, 2000);
	int seen = 0;
	for (int i = 0; i < n; i++) seen |= got[i].data.u32;
	printf("epoll: connected %d, listener readable %d\n", !!(seen & 1), !!(seen & 2));
	int v;
	socklen_t vl = sizeof v;
	getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl);
	printf("SO_ERROR %d\n", v);
	int s = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
	TRYN("accept4 nonblocking read", read(s, buf, 1));
	close(c);
	struct pollfd ps = {.fd = s, .events = POLLIN};
	poll(&ps, 1, 2000);
	TRYN("read after peer close", read(s, buf, 1));

	// Errors.
	int x = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in closed = {.sin_family = AF_INET, .sin_port = htons(1), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	TRY("connect refused", connect(x, (struct sockaddr *)&closed, sizeof closed));
	TRY("socket raw", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
	TRY("bind short", bind(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&closed, 4));
	vl = sizeof v;
	getsockopt(x, SOL_SOCKET, SO_TYPE, &v, &vl);
	printf("SO_TYPE %d\n", v);
	getsockopt(x, SOL_SOCKET, SO_PROTOCOL, &v, &vl);
	printf("SO_PROTOCOL %d\n", v);
	getsockopt(x, IPPROTO_TCP, TCP_NODELAY, &v, &vl);
	printf("TCP_NODELAY %d\n", v);
	TRY("getpeername unconnected", getpeername(x, (struct sockaddr *)&from, &fl));
	return 0;
}
