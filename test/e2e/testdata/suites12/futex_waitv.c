// futex_waitv: futex_waitv(2) waits on several futexes until one is
// woken and returns its index: private futexes woken by another thread,
// shared ones by another process; a futex not holding its value is
// EAGAIN, the absolute timeout ETIMEDOUT, and bad arguments EINVAL or
// EFAULT as Linux (it was ENOSYS: LTP futex_waitv01-03).
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct waitv {
	uint64_t val, uaddr;
	uint32_t flags, reserved;
};
#define SIZE_U32 0x02
#define PRIV 128

static long waitv(struct waitv *w, unsigned n, unsigned flags, struct timespec *to, int clk) {
	return syscall(449, w, n, flags, to, clk);
}

static struct timespec in_ms(int clk, int ms) {
	struct timespec ts;
	clock_gettime(clk, &ts);
	ts.tv_nsec += ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

static void check(const char *what, long r) {
	printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
}

static uint32_t priv[3];

static void *waker(void *arg) {
	usleep(100000);
	syscall(SYS_futex, &priv[1], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return arg;
}

int main(void) {
	struct waitv w[3];
	for (int i = 0; i < 3; i++)
		w[i] = (struct waitv){0, (uintptr_t)&priv[i], SIZE_U32 | PRIV, 0};
	struct timespec to = in_ms(CLOCK_MONOTONIC, 1000);
	check("flags", waitv(w, 1, 1, &to, CLOCK_MONOTONIC));
	check("none", waitv(w, 0, 0, &to, CLOCK_MONOTONIC));
	check("too many", waitv(w, 129, 0, &to, CLOCK_MONOTONIC));
	check("null waiters", waitv(NULL, 1, 0, &to, CLOCK_MONOTONIC));
	check("clockid", waitv(w, 1, 0, &to, CLOCK_TAI));
	struct waitv bad = w[0];
	bad.flags = PRIV;
	check("no size", waitv(&bad, 1, 0, &to, CLOCK_MONOTONIC));
	bad = w[0];
	bad.reserved = 1;
	check("reserved", waitv(&bad, 1, 0, &to, CLOCK_MONOTONIC));
	bad = w[0];
	bad.uaddr = 1;
	check("unaligned", waitv(&bad, 1, 0, &to, CLOCK_MONOTONIC));
	bad = w[0];
	bad.uaddr = 0;
	check("null futex", waitv(&bad, 1, 0, &to, CLOCK_MONOTONIC));
	check("bad waiters", waitv((struct waitv *)8, 1, 0, &to, CLOCK_MONOTONIC));
	bad = w[0];
	bad.val = 1;
	check("mismatch", waitv(&bad, 1, 0, &to, CLOCK_MONOTONIC));
	to = in_ms(CLOCK_REALTIME, 20);
	check("timeout", waitv(w, 3, 0, &to, CLOCK_REALTIME));

	pthread_t th;
	pthread_create(&th, NULL, waker, NULL);
	to = in_ms(CLOCK_MONOTONIC, 5000);
	check("private woken", waitv(w, 3, 0, &to, CLOCK_MONOTONIC));
	pthread_join(th, NULL);

	uint32_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct waitv sw[3];
		for (int i = 0; i < 3; i++)
			sw[i] = (struct waitv){0, (uintptr_t)&shared[i * 4], SIZE_U32, 0};
		struct timespec t5 = in_ms(CLOCK_MONOTONIC, 5000);
		long r = waitv(sw, 3, 0, &t5, CLOCK_MONOTONIC);
		_exit(r < 0 ? 100 + errno : r);
	}
	int woke = 0;
	for (int tries = 0; tries < 500 && woke == 0; tries++) {
		usleep(10000);
		woke = syscall(SYS_futex, &shared[8], FUTEX_WAKE, 1, NULL, NULL, 0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("shared woken: wake %d, child returned %d\n", woke, WEXITSTATUS(st));
	return 0;
}
