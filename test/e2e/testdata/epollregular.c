// epollregular: epoll_ctl of a regular file fails EPERM for every op
// (Linux checks the target can be polled before the op or the epoll fd's
// kind), after EFAULT for an unreadable event and EBADF for a closed fd;
// a pipe is added; the epoll fd itself is EINVAL; an O_PATH fd on
// either side is EBADF; a directory and /dev/null are EPERM too.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

static void try(const char *what, int epfd, int op, int fd, struct epoll_event *ev) {
	errno = 0;
	int r = epoll_ctl(epfd, op, fd, ev);
	int e = errno;
	printf("%s: %d %d\n", what, r, r < 0 ? e : 0);
}

int main(void) {
	int ep = epoll_create1(0), f = open("/etc/hostname", O_RDONLY), p[2];
	if (ep < 0 || f < 0 || pipe(p) != 0) {
		perror("setup");
		return 1;
	}
	struct epoll_event ev = {.events = EPOLLIN};
	try("ADD regular", ep, EPOLL_CTL_ADD, f, &ev);
	try("MOD regular", ep, EPOLL_CTL_MOD, f, &ev);
	try("DEL regular", ep, EPOLL_CTL_DEL, f, NULL);
	try("ADD regular, unreadable event", ep, EPOLL_CTL_ADD, f, (struct epoll_event *)8);
	try("DEL regular, unreadable event", ep, EPOLL_CTL_DEL, f, (struct epoll_event *)8);
	try("ADD regular, epfd a regular file", f, EPOLL_CTL_ADD, f, &ev);
	try("ADD regular, epfd closed", 99, EPOLL_CTL_ADD, f, &ev);
	try("ADD closed fd", ep, EPOLL_CTL_ADD, 98, &ev);
	try("bad op, regular", ep, 77, f, &ev);
	try("ADD pipe", ep, EPOLL_CTL_ADD, p[0], &ev);
	try("ADD the epoll fd itself", ep, EPOLL_CTL_ADD, ep, &ev);
	try("ADD pipe, epfd a regular file", f, EPOLL_CTL_ADD, p[0], &ev);
	int op = open("/etc/hostname", O_PATH);
	try("ADD regular, epfd O_PATH", op, EPOLL_CTL_ADD, f, &ev);
	try("ADD O_PATH target", ep, EPOLL_CTL_ADD, op, &ev);
	int dir = open("/etc", O_RDONLY | O_CLOEXEC), null = open("/dev/null", O_RDONLY);
	try("ADD directory", ep, EPOLL_CTL_ADD, dir, &ev);
	try("DEL directory", ep, EPOLL_CTL_DEL, dir, NULL);
	try("ADD /dev/null", ep, EPOLL_CTL_ADD, null, &ev);
	return 0;
}
