// Nested epolls: four levels below the one added to are allowed, five are
// ELOOP, as is a loop (LTP epoll_ctl04, epoll_ctl05).
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

int main(void) {
	int p[2];
	pipe(p);
	struct epoll_event ev = {.events = EPOLLIN};
	int fd = p[0];
	int eps[8];
	for (int depth = 0; depth < 6; depth++) {
		eps[depth] = epoll_create1(0);
		ev.data.fd = fd;
		int r = epoll_ctl(eps[depth], EPOLL_CTL_ADD, fd, &ev);
		printf("nest %d: %s\n", depth + 1, r < 0 ? strerrorname_np(errno) : "ok");
		if (r < 0)
			break;
		fd = eps[depth];
	}
	ev.data.fd = eps[1];
	int r = epoll_ctl(eps[0], EPOLL_CTL_ADD, eps[1], &ev);
	printf("loop: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
	return 0;
}
