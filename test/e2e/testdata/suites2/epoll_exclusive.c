// EPOLLEXCLUSIVE: a pipe's read end added with it to one epoll instance
// in each of several processes; each write wakes exactly one of their
// waiters (LTP epoll_wait16). And its EINVAL cases: EPOLL_CTL_MOD of an
// exclusive interest, an epoll as target, EPOLLONESHOT with it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NWAITERS 6

static char state_of(pid_t pid) {
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	int n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static void ctl(const char *what, int ep, int op, int fd, unsigned events) {
	struct epoll_event ev = {.events = events};
	int r = epoll_ctl(ep, op, fd, &ev);
	printf("%s: %d %s\n", what, r, r ? strerror(errno) : "");
}

int main(void) {
	int data[2], report[2];
	if (pipe(data) || pipe(report)) {
		perror("pipe");
		return 1;
	}
	pid_t pids[NWAITERS];
	for (int i = 0; i < NWAITERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			int ep = epoll_create1(0);
			struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLEXCLUSIVE};
			if (epoll_ctl(ep, EPOLL_CTL_ADD, data[0], &ev) != 0)
				_exit(2);
			int n = epoll_wait(ep, &ev, 1, 10000);
			char c = n == 1 ? 'w' : 't';
			write(report[1], &c, 1);
			_exit(0);
		}
	}
	close(report[1]);
	for (int i = 0; i < NWAITERS; i++) {
		for (int tries = 0; state_of(pids[i]) != 'S' && tries < 1000; tries++)
			usleep(10000);
	}
	// Let every waiter get into epoll_wait proper after it shows 'S'
	// (under load a forwarded epoll_ctl may show 'S' too).
	usleep(500000);
	for (int round = 1; round <= 3; round++) {
		char c = 'x', r;
		write(data[1], &c, 1);
		int woken = 0;
		struct pollfd p = {.fd = report[0], .events = POLLIN};
		// The first report within 10 s, then any other within 300 ms.
		for (int wait = 10000; poll(&p, 1, wait) == 1 && read(report[0], &r, 1) == 1; wait = 300)
			woken += r == 'w';
		read(data[0], &c, 1);
		printf("write %d woke %d waiter(s)\n", round, woken);
	}
	for (int i = 0; i < NWAITERS; i++)
		kill(pids[i], SIGKILL);
	while (wait(NULL) > 0)
		;

	int ep = epoll_create1(0), ep2 = epoll_create1(0);
	ctl("add", ep, EPOLL_CTL_ADD, data[0], EPOLLIN | EPOLLEXCLUSIVE);
	ctl("mod", ep, EPOLL_CTL_MOD, data[0], EPOLLIN | EPOLLEXCLUSIVE);
	ctl("mod without it", ep, EPOLL_CTL_MOD, data[0], EPOLLIN);
	ctl("epoll target", ep2, EPOLL_CTL_ADD, ep, EPOLLIN | EPOLLEXCLUSIVE);
	ctl("oneshot", ep2, EPOLL_CTL_ADD, data[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT);
	return 0;
}
