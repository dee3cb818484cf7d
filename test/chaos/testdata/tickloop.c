// An epoll loop over a periodic timerfd and an eventfd: every timer tick
// (read through epoll) signals the eventfd, whose count is checked. The
// output does not depend on timing, only on every tick being seen.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rounds = argc > 1 ? atoi(argv[1]) : 300;
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int efd = eventfd(0, EFD_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 1};
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e);
	e.data.u32 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e);
	struct itimerspec every = {{0, 3000000}, {0, 3000000}};
	timerfd_settime(tfd, 0, &every, NULL);
	uint64_t signalled = 0, seen = 0;
	for (int i = 0; i < rounds;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, 5000);
		if (n <= 0) {
			printf("epoll_wait: %d at round %d\n", n, i);
			return 1;
		}
		for (int k = 0; k < n; k++) {
			uint64_t v = 0;
			if (got[k].data.u32 == 1) {
				if (read(tfd, &v, 8) == 8 && v > 0) {
					uint64_t one = 1;
					write(efd, &one, 8);
					signalled++;
					if (i % 50 == 0) printf("tick round %d\n", i);
					i++;
				}
			} else if (read(efd, &v, 8) == 8) {
				seen += v;
			}
		}
	}
	uint64_t v = 0;
	if (read(efd, &v, 8) == 8) seen += v;
	printf("rounds %d, eventfd saw every one: %d\n", rounds, seen == signalled);
	return 0;
}
