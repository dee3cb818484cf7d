// Absolute timerfd timers against the application's clocks: a timer set
// 50 ms ahead of a time just read reads back at most 50 ms left, and never
// fires before its expiration (as LTP's timerfd01 checks).
#include <stdint.h>
#include <stdio.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(int clk) {
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ts_of(int64_t ns) {
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	return ts;
}

int main(void) {
	const int64_t ms = 1000000;
	struct { int id; const char *name; } clocks[] = {{CLOCK_MONOTONIC, "monotonic"}, {CLOCK_REALTIME, "realtime"}};
	for (int c = 0; c < 2; c++) {
		int fd = timerfd_create(clocks[c].id, 0);
		if (fd < 0) {
			perror("timerfd_create");
			return 1;
		}
		int late_readback = 0, early = 0, rounds = 10;
		for (int i = 0; i < rounds; i++) {
			int64_t t0 = now_ns(clocks[c].id);
			struct itimerspec its = {.it_value = ts_of(t0 + 50 * ms), .it_interval = ts_of(i % 2 ? 50 * ms : 0)};
			if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
				perror("timerfd_settime");
				return 1;
			}
			struct itimerspec cur;
			if (timerfd_gettime(fd, &cur) < 0) {
				perror("timerfd_gettime");
				return 1;
			}
			int64_t left = (int64_t)cur.it_value.tv_sec * 1000000000 + cur.it_value.tv_nsec;
			/* 0 left is right only once the expiration passed (a loaded
			   machine may take 50 ms between settime and gettime). */
			if (left < 0 || left > 50 * ms || (left == 0 && now_ns(clocks[c].id) < t0 + 50 * ms)) {
				late_readback++;
				fprintf(stderr, "%s round %d: %lld ns left of 50 ms\n", clocks[c].name, i, (long long)left);
			}
			uint64_t ticks;
			if (read(fd, &ticks, sizeof ticks) != sizeof ticks || ticks < 1) {
				perror("read");
				return 1;
			}
			int64_t fired = now_ns(clocks[c].id);
			if (fired < t0 + 50 * ms) {
				early++;
				fprintf(stderr, "%s round %d: fired %lld ns early\n", clocks[c].name, i, (long long)(t0 + 50 * ms - fired));
			}
		}
		struct itimerspec off = {0};
		timerfd_settime(fd, 0, &off, NULL);
		close(fd);
		printf("%s: %d rounds, %d read back more than set, %d fired early\n", clocks[c].name, rounds, late_readback, early);
	}
	return 0;
}
