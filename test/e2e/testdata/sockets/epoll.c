// epoll over pipes and eventfds: level and edge triggered, EPOLLONESHOT,
// EPOLL_CTL_MOD/DEL, errors, a wait woken by another process, and an
// epoll nested in an epoll.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// TRY prints what an expression returned and, if it failed, errno.
#define TRY(what, expr)                                                   \
	do {                                                              \
		errno = 0;                                                \
		long r_ = (long)(expr);                                   \
		printf("%s: %ld errno %d\n", what, r_, r_ < 0 ? errno : 0); \
	} while (0)

static int ep;

static void wait_show(const char *what, int timeout) {
	struct epoll_event evs[8];
	int n = epoll_wait(ep, evs, 8, timeout);
	printf("%s: %d", what, n);
	for (int i = 0; i < n; i++) printf(" [%llu %#x]", (unsigned long long)evs[i].data.u64, evs[i].events);
	printf("\n");
}

static int add(int fd, uint32_t events, uint64_t data) {
	struct epoll_event e = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	int p[2];
	pipe(p);
	TRY("add read end", add(p[0], EPOLLIN, 1));
	TRY("add write end", add(p[1], EPOLLOUT, 2));
	TRY("add again", add(p[0], EPOLLIN, 1));
	wait_show("level, write end only", 0);
	write(p[1], "ab", 2);
	wait_show("level, both", 0);
	wait_show("level, still both", 0);
	struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.u64 = 3};
	printf("del write end: %d\n", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
	printf("mod to edge: %d\n", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e));
	wait_show("edge, first", 0);
	wait_show("edge, again", 0);
	write(p[1], "c", 1);
	wait_show("edge, after a write", 0);
	wait_show("edge, no new write", 0);
	char buf[8];
	printf("drained %zd\n", read(p[0], buf, sizeof buf));
	e.events = EPOLLIN | EPOLLONESHOT;
	e.data.u64 = 4;
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e);
	write(p[1], "d", 1);
	wait_show("oneshot", 0);
	wait_show("oneshot, disabled", 0);
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e);
	wait_show("oneshot, re-armed", 0);
	read(p[0], buf, sizeof buf);
	epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);

	int fd = open("/etc/passwd", O_RDONLY);
	TRY("add regular file", add(fd, EPOLLIN, 9));
	TRY("add self", add(ep, EPOLLIN, 9));
	TRY("del missing", epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
	TRY("wait maxevents 0", epoll_wait(ep, NULL, 0, 0));
	TRY("wait on a pipe", epoll_wait(p[0], (struct epoll_event[1]){}, 1, 0));
	TRY("create1 bad flags", epoll_create1(1));
	TRY("create size 0", epoll_create(0));

	int efd = eventfd(0, 0);
	add(efd, EPOLLIN, 5);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100000);
		uint64_t v = 1;
		write(efd, &v, sizeof v);
		_exit(0);
	}
	wait_show("blocking, woken by child", 2000);
	waitpid(pid, NULL, 0);
	wait_show("timeout with nothing new", 50);
	uint64_t v;
	read(efd, &v, sizeof v);
	wait_show("eventfd drained", 0);
	struct timespec ts = {0, 20000000};
	struct epoll_event ev2[2];
	TRY("epoll_pwait2 timeout", syscall(SYS_epoll_pwait2, ep, ev2, 2, &ts, NULL, 8));
	write(efd, &(uint64_t){1}, 8);
	TRY("epoll_pwait2 ready", syscall(SYS_epoll_pwait2, ep, ev2, 2, &ts, NULL, 8));
	read(efd, &v, sizeof v);
	ts.tv_nsec = 2000000000;
	TRY("epoll_pwait2 bad timespec", syscall(SYS_epoll_pwait2, ep, ev2, 2, &ts, NULL, 8));

	int outer = epoll_create(1);
	struct epoll_event oe = {.events = EPOLLIN, .data.u64 = 7};
	TRY("nest", epoll_ctl(outer, EPOLL_CTL_ADD, ep, &oe));
	TRY("loop", add(outer, EPOLLIN, 8));
	struct epoll_event got[2];
	printf("outer idle: %d\n", epoll_wait(outer, got, 2, 0));
	write(efd, &(uint64_t){1}, 8);
	int n = epoll_wait(outer, got, 2, 1000);
	printf("outer ready: %d [%llu %#x]\n", n, (unsigned long long)got[0].data.u64, got[0].events);
	close(p[1]);
	add(p[0], EPOLLIN, 6);
	wait_show("hangup", 0);
	return 0;
}
