// timerfd: one-shot and periodic, relative and absolute, blocking and
// non-blocking reads, poll and epoll readiness, gettime, disarm, errors.
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static struct itimerspec spec(long value_ns, long interval_ns) {
	struct itimerspec s = {{interval_ns / 1000000000, interval_ns % 1000000000}, {value_ns / 1000000000, value_ns % 1000000000}};
	return s;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	uint64_t v = 0;
	TRYN("read disarmed", read(t, &v, 8));
	/* Armed for 10 s to be seen armed (a loaded machine may take more
	   than 50 ms between two calls), then for the 50 ms that fire. */
	struct itimerspec s = spec(10000000000L, 0), cur;
	TRY("settime 10s", timerfd_settime(t, 0, &s, NULL));
	timerfd_gettime(t, &cur);
	printf("armed: %d, no interval %d\n", cur.it_value.tv_sec < 10 && (cur.it_value.tv_sec > 0 || cur.it_value.tv_nsec > 0), cur.it_interval.tv_nsec == 0);
	s = spec(50000000, 0);
	TRY("settime 50ms", timerfd_settime(t, 0, &s, NULL));
	struct pollfd p = {.fd = t, .events = POLLIN};
	TRYN("poll", poll(&p, 1, 2000));
	TRYN("read", read(t, &v, 8));
	printf("expirations %llu\n", (unsigned long long)v);
	timerfd_gettime(t, &cur);
	printf("after firing: %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);

	s = spec(10000000, 10000000);
	timerfd_settime(t, 0, &s, NULL);
	nanosleep(&(struct timespec){0, 65000000}, NULL);
	read(t, &v, 8);
	printf("periodic: several %d\n", v >= 3);
	struct itimerspec old;
	s = spec(0, 0);
	TRY("disarm", timerfd_settime(t, 0, &s, &old));
	printf("old interval 10ms %d\n", old.it_interval.tv_nsec == 10000000);
	timerfd_gettime(t, &cur);
	printf("disarmed: %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
	close(t);

	// Blocking, absolute on CLOCK_REALTIME, through epoll.
	int b = timerfd_create(CLOCK_REALTIME, 0);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long ns = now.tv_nsec + 30000000;
	struct itimerspec abs = {{0, 0}, {now.tv_sec + ns / 1000000000, ns % 1000000000}};
	TRY("settime absolute", timerfd_settime(b, TFD_TIMER_ABSTIME, &abs, NULL));
	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 3};
	epoll_ctl(ep, EPOLL_CTL_ADD, b, &e);
	struct epoll_event got;
	TRYN("epoll", epoll_wait(ep, &got, 1, 2000));
	TRYN("blocking read", read(b, &v, 8));
	printf("expirations %llu\n", (unsigned long long)v);

	TRY("bad clock", timerfd_create(12345, 0));
	TRY("bad flags", timerfd_create(CLOCK_MONOTONIC, 0x10));
	TRY("settime bad flags", timerfd_settime(b, 0x8, &s, NULL));
	TRY("settime on a non-timerfd", timerfd_settime(ep, 0, &s, NULL));
	s.it_value.tv_nsec = 2000000000;
	TRY("settime bad nsec", timerfd_settime(b, 0, &s, NULL));
	uint32_t small;
	TRY("short read", read(b, &small, 4));
	TRY("write", write(b, &v, 8));
	return 0;
}
