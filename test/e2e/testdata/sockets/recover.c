// Kernel objects across a server kill: the test kills the remote sentry
// while this program waits for the file "go" (phase1 tells it the
// objects are set up). An eventfd's counter, an epoll's interests, a
// listening socket on a path and one on an abstract name come back; a
// connected socketpair comes back reset ("pair:" lines).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static socklen_t mkaddr(struct sockaddr_un *a, const char *name, int abstract) {
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (abstract) {
		strcpy(a->sun_path + 1, name);
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	}
	strcpy(a->sun_path, name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

static int listener(const char *name, int abstract) {
	struct sockaddr_un a;
	socklen_t al = mkaddr(&a, name, abstract);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(s, (struct sockaddr *)&a, al) < 0 || listen(s, 8) < 0) printf("listener %s: errno %d\n", name, errno);
	return s;
}

static void roundtrip(int ls, const char *name, int abstract) {
	struct sockaddr_un a;
	socklen_t al = mkaddr(&a, name, abstract);
	pid_t pid = fork();
	if (pid == 0) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, al) < 0) {
			printf("connect %s: errno %d\n", name, errno);
			_exit(1);
		}
		write(c, name, strlen(name));
		_exit(0);
	}
	int s = accept(ls, NULL, NULL);
	char buf[64] = {0};
	read(s, buf, sizeof buf - 1);
	printf("accepted on %s: got %s\n", name, buf);
	close(s);
	waitpid(pid, NULL, 0);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("rec.sock");
	unlink("phase1");
	int efd = eventfd(5, 0);
	uint64_t two = 2;
	write(efd, &two, 8);
	int p[2];
	pipe(p);
	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 11};
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e);
	e.data.u64 = 22;
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e);
	int lp = listener("rec.sock", 0), la = listener("rd-recover-abstract", 1);
	// An accepted AF_UNIX connection with data queued both ways.
	struct sockaddr_un ua;
	socklen_t ual = mkaddr(&ua, "rd-recover-abstract", 1);
	int uc = socket(AF_UNIX, SOCK_STREAM, 0);
	connect(uc, (struct sockaddr *)&ua, ual);
	int us = accept(la, NULL, NULL);
	write(uc, "to server", 9);
	write(us, "to client", 9);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[0], "queued", 6);
	write(sv[0], " and more", 9);
	write(sv[1], "back", 4);
	int dg[2];
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, dg);
	send(dg[0], "first", 5, 0);
	send(dg[0], "second", 6, 0);
	int half[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, half);
	write(half[0], "left behind", 11);
	close(half[0]);
	// A TCP listener on an ephemeral loopback port, and a connection.
	int tl = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in ta = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bind(tl, (struct sockaddr *)&ta, sizeof ta);
	listen(tl, 4);
	socklen_t tal = sizeof ta;
	getsockname(tl, (struct sockaddr *)&ta, &tal);
	int tc = socket(AF_INET, SOCK_STREAM, 0);
	connect(tc, (struct sockaddr *)&ta, sizeof ta);
	int ts = accept(tl, NULL, NULL);
	int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec every = {{0, 20000000}, {0, 20000000}};
	timerfd_settime(tfd, 0, &every, NULL);
	close(open("phase1", O_CREAT | O_WRONLY, 0644));
	struct stat st;
	while (stat("go", &st) < 0) nanosleep(&(struct timespec){0, 10000000}, NULL);

	uint64_t v = 0;
	read(efd, &v, 8);
	printf("eventfd: %llu\n", (unsigned long long)v);
	uint64_t ticks = 0;
	read(tfd, &ticks, 8);
	struct itimerspec tcur;
	timerfd_gettime(tfd, &tcur);
	printf("timerfd: ticked %d, still every 20ms %d\n", ticks > 0, tcur.it_interval.tv_nsec == 20000000);
	write(efd, &two, 8);
	write(p[1], "x", 1);
	struct epoll_event got[4];
	int n = epoll_wait(ep, got, 4, 1000);
	printf("epoll: %d", n);
	for (int i = 0; i < n; i++) printf(" [%llu %#x]", (unsigned long long)got[i].data.u64, got[i].events);
	printf("\n");
	roundtrip(lp, "rec.sock", 0);
	roundtrip(la, "rd-recover-abstract", 1);
	pid_t pid = fork();
	if (pid == 0) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&ta, sizeof ta) < 0) printf("tcp connect: errno %d\n", errno);
		write(c, "tcp", 3);
		_exit(0);
	}
	int a2 = accept(tl, NULL, NULL);
	char tb[8] = {0};
	read(a2, tb, sizeof tb - 1);
	printf("tcp listener, same port: got %s\n", tb);
	waitpid(pid, NULL, 0);
	char buf[16] = {0};
	TRYN("pair: tcp recv", recv(ts, buf, sizeof buf, MSG_DONTWAIT));
	TRYN("pair: tcp recv again", recv(ts, buf, sizeof buf, MSG_DONTWAIT));
	TRYN("pair: tcp client send", send(tc, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL));
	char ub[32] = {0};
	n = read(us, ub, sizeof ub - 1);
	printf("unix connection: server got %d: %s\n", n, ub);
	memset(ub, 0, sizeof ub);
	n = read(uc, ub, sizeof ub - 1);
	printf("unix connection: client got %d: %s\n", n, ub);
	char big[64] = {0};
	n = read(sv[1], big, sizeof big - 1);
	printf("socketpair: read %d: %s\n", n, big);
	TRYN("socketpair: nothing more", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
	n = read(sv[0], buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("socketpair: other way %d: %s\n", n, buf);
	TRYN("socketpair: write", write(sv[0], "after", 5));
	TRYN("socketpair: read it", read(sv[1], buf, sizeof buf));
	TRYN("seqpacket: first", recv(dg[1], buf, sizeof buf, 0));
	TRYN("seqpacket: second", recv(dg[1], buf, sizeof buf, 0));
	TRYN("seqpacket: empty", recv(dg[1], buf, sizeof buf, MSG_DONTWAIT));
	n = read(half[1], buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("closed peer's data %d: %s\n", n, buf);
	TRYN("then end of file", read(half[1], buf, sizeof buf));
	unlink("rec.sock");
	unlink("phase1");
	unlink("go");
	return 0;
}
