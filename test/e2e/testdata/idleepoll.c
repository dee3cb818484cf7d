// idleepoll: an epoll over a pipe's read end and an eventfd, asked with a zero
// timeout in a loop; between rounds the pipe is written (by the process
// itself, and by a child it then reaps) and the eventfd too, and each
// write must show at the next zero-timeout wait.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 50;
	int p[2];
	if (pipe(p) != 0) { perror("pipe"); return 1; }
	int ev = eventfd(0, EFD_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 1};
	if (ev < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e) != 0) { perror("setup"); return 1; }
	e.data.u32 = 2;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) { perror("epoll_ctl"); return 1; }
	struct epoll_event out[8];
	long idle = 0;
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < 20; i++) {
			int n = epoll_wait(ep, out, 8, 0);
			if (n != 0) { printf("round %d: %d ready while idle\n", r, n); return 1; }
			idle++;
		}
		char c = 'a' + r % 26;
		int how = r % 3;
		if (how == 0) {
			if (write(p[1], &c, 1) != 1) { perror("write"); return 1; }
		} else if (how == 1) {
			pid_t pid = fork();
			if (pid == 0) { _exit(write(p[1], &c, 1) != 1); }
			int st;
			if (waitpid(pid, &st, 0) != pid || st != 0) { perror("child"); return 1; }
		} else {
			uint64_t one = 1;
			if (write(ev, &one, 8) != 8) { perror("eventfd write"); return 1; }
		}
		int n = epoll_wait(ep, out, 8, 0);
		printf("round %d (%s): %d ready, data %u\n", r, how == 0 ? "write" : how == 1 ? "child" : "eventfd", n, n > 0 ? out[0].data.u32 : 0);
		if (how == 2) {
			uint64_t v;
			if (read(ev, &v, 8) != 8) { perror("eventfd read"); return 1; }
		} else if (read(p[0], &c, 1) != 1) { perror("read"); return 1; }
	}
	printf("idle waits: %ld\n", idle);
	return 0;
}
