// socketpair of every type: echo through a forked child, message
#define _GNU_SOURCE
// boundaries, shutdown, EPIPE, MSG_PEEK/MSG_TRUNC/MSG_DONTWAIT, socket
// options, fstat, poll and epoll readiness.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static void echo(int type, const char *name) {
	int sv[2];
	TRY(name, socketpair(AF_UNIX, type, 0, sv));
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		char buf[256];
		ssize_t n;
		// Three messages: a dgram pair has no end of file.
		for (int k = 0; k < 3 && (n = read(sv[1], buf, sizeof buf)) > 0; k++) {
			for (ssize_t i = 0; i < n; i++) buf[i] = buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i];
			write(sv[1], buf, n);
		}
		_exit(0);
	}
	close(sv[1]);
	const char *msgs[] = {"hello", "socket", "pair"};
	for (int i = 0; i < 3; i++) {
		char buf[64] = {0};
		write(sv[0], msgs[i], strlen(msgs[i]));
		ssize_t n = read(sv[0], buf, sizeof buf - 1);
		printf("  %s -> %zd %s\n", msgs[i], n, buf);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("  child exit %d\n", WEXITSTATUS(st));
	char c;
	if (type != SOCK_DGRAM) TRY("  read after peer exit", read(sv[0], &c, 1));
	close(sv[0]);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	echo(SOCK_STREAM, "stream");
	echo(SOCK_SEQPACKET, "seqpacket");
	echo(SOCK_DGRAM, "dgram");

	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	send(sv[0], "one", 3, 0);
	send(sv[0], "twotwo", 6, 0);
	send(sv[0], "", 0, 0);
	char buf[64];
	int q = -1;
	TRYN("FIONREAD dgram", ioctl(sv[1], FIONREAD, &q));
	printf("  next datagram %d\n", q);
	TRYN("dgram peek", recv(sv[1], buf, sizeof buf, MSG_PEEK));
	TRYN("dgram recv", recv(sv[1], buf, sizeof buf, 0));
	TRYN("dgram trunc", recv(sv[1], buf, 3, MSG_TRUNC));
	TRYN("dgram empty", recv(sv[1], buf, sizeof buf, 0));
	TRYN("dgram dontwait", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	close(sv[0]);
	close(sv[1]);

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
	printf("flags nonblock %d cloexec %d\n", !!(fcntl(sv[0], F_GETFL) & O_NONBLOCK), !!(fcntl(sv[0], F_GETFD) & FD_CLOEXEC));
	TRYN("nonblocking read", read(sv[0], buf, sizeof buf));
	struct pollfd p[2] = {{.fd = sv[0], .events = POLLIN | POLLOUT}, {.fd = sv[1], .events = POLLIN}};
	TRYN("poll idle", poll(p, 2, 0));
	printf("  revents %#x %#x\n", p[0].revents, p[1].revents);
	write(sv[0], "abc", 3);
	write(sv[0], "de", 2);
	TRYN("FIONREAD stream", ioctl(sv[1], FIONREAD, &q));
	printf("  queued %d\n", q);
	TRYN("poll data", poll(p, 2, 0));
	printf("  revents %#x %#x\n", p[0].revents, p[1].revents);
	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.u32 = 1};
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &e);
	struct epoll_event got[2];
	TRYN("epoll edge", epoll_wait(ep, got, 2, 0));
	TRYN("epoll edge again", epoll_wait(ep, got, 2, 0));
	write(sv[0], "d", 1);
	TRYN("epoll edge after write", epoll_wait(ep, got, 2, 0));
	TRYN("stream read", read(sv[1], buf, sizeof buf));
	close(sv[0]);
	TRYN("poll hangup", poll(&p[1], 1, 0));
	printf("  revents %#x\n", p[1].revents);
	TRYN("epoll hangup", epoll_wait(ep, got, 2, 0));
	printf("  events %#x\n", got[0].events);
	TRYN("write to closed peer", write(sv[1], "x", 1));
	TRYN("send MSG_NOSIGNAL", send(sv[1], "x", 1, MSG_NOSIGNAL));
	close(sv[1]);

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	int v = 0;
	socklen_t l = sizeof v;
	getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l);
	printf("SO_TYPE %d len %d\n", v, l);
	getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &l);
	printf("SO_DOMAIN %d\n", v);
	getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &l);
	printf("SO_ERROR %d\n", v);
	getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &l);
	printf("SO_ACCEPTCONN %d\n", v);
	struct ucred cr;
	l = sizeof cr;
	getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &l);
	printf("SO_PEERCRED mine %d uid %d len %d\n", cr.pid == getpid(), cr.uid, l);
	TRY("unknown option", getsockopt(sv[0], SOL_SOCKET, 9999, &v, &l));
	TRY("SO_RCVTIMEO", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){0, 100000}, sizeof(struct timeval)));
	TRYN("read timing out", read(sv[0], buf, 1));
	struct stat st;
	fstat(sv[0], &st);
	printf("S_ISSOCK %d\n", S_ISSOCK(st.st_mode));
	TRY("lseek", lseek(sv[0], 0, SEEK_SET));
	TRY("shutdown bad how", shutdown(sv[0], 7));
	shutdown(sv[1], SHUT_WR);
	TRYN("read after SHUT_WR", read(sv[0], buf, 1));
	TRYN("getpeername of a pair", getpeername(sv[0], (struct sockaddr *)&(struct sockaddr_un){0}, &(socklen_t){sizeof(struct sockaddr_un)}));
	TRY("socketpair inet", socketpair(AF_INET, SOCK_STREAM, 0, sv));
	TRY("socket bad type", socket(AF_UNIX, 9, 0));
	TRY("socket bad proto", socket(AF_UNIX, SOCK_STREAM, 7));
	TRY("not a socket", send(1, "x", 1, 0));
	return 0;
}
