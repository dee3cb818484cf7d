// A socketpair echo loop (the parent sends numbered lines, a forked child
// answers each in upper case) and an eventfd+epoll counter, long enough
// for the test to kill the remote sentry under it several times.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <errno.h>
#include <stdio.h>

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rounds = argc > 1 ? atoi(argv[1]) : 3000;
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		char buf[64];
		ssize_t n;
		while ((n = read(sv[1], buf, sizeof buf)) > 0) {
			for (ssize_t i = 0; i < n; i++) buf[i] = buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i];
			if (write(sv[1], buf, n) != n) _exit(2);
		}
		_exit(0);
	}
	close(sv[1]);
	int efd = eventfd(0, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 7};
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e);
	uint64_t total = 0;
	for (int i = 0; i < rounds; i++) {
		char msg[32], buf[64];
		int len = snprintf(msg, sizeof msg, "line %d\n", i);
		if (write(sv[0], msg, len) != len) {
			printf("write %d: errno %d\n", i, errno);
			return 1;
		}
		int got = 0;
		while (got < len) {
			ssize_t n = read(sv[0], buf + got, len - got);
			if (n <= 0) {
				printf("read %d: %zd errno %d\n", i, n, errno);
				return 1;
			}
			got += n;
		}
		buf[got] = 0;
		if (i % 100 == 0) printf("%s", buf);
		uint64_t one = 1;
		write(efd, &one, 8);
		if (i % 10 == 9) {
			struct epoll_event ev;
			if (epoll_wait(ep, &ev, 1, 1000) != 1 || ev.data.u32 != 7) printf("epoll at %d\n", i);
			uint64_t v;
			read(efd, &v, 8);
			total += v;
		}
	}
	close(sv[0]);
	int st;
	waitpid(pid, &st, 0);
	printf("child exit %d, eventfd total %llu\n", WEXITSTATUS(st), (unsigned long long)total);
	return 0;
}
