// CPU-time clocks, getrusage and times advance while the program computes
// and not while it sleeps; a second thread's time adds to the process's;
// /proc/self/stat shows them.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

static double clk(clockid_t c) {
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return -1;
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile unsigned long sink;

// burn computes for about sec seconds of CPU time of the calling thread.
static void burn(double sec) {
	double start = clk(CLOCK_THREAD_CPUTIME_ID);
	while (clk(CLOCK_THREAD_CPUTIME_ID) - start < sec)
		for (int i = 0; i < 100000; i++)
			sink += i;
}

static void *worker(void *arg) {
	burn(0.3);
	return NULL;
}

static const char *yes(int b) { return b ? "yes" : "no"; }

// The upper bounds hold under load: a thread is charged the CPU time its
// stub ran, not the time it waited for a CPU.

int main(void) {
	double p0 = clk(CLOCK_PROCESS_CPUTIME_ID), w0 = clk(CLOCK_MONOTONIC);
	burn(0.3);
	double p1 = clk(CLOCK_PROCESS_CPUTIME_ID), w1 = clk(CLOCK_MONOTONIC);
	printf("process clock advanced by the work: %s\n", yes(p1 - p0 >= 0.29 && p1 - p0 <= w1 - w0 + 0.05));
	usleep(300000);
	double p2 = clk(CLOCK_PROCESS_CPUTIME_ID);
	printf("not while sleeping: %s\n", yes(p2 - p1 < 0.2));

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double ut = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, st = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("getrusage user+system covers the work: %s\n", yes(ut + st >= 0.29 && ut + st <= p2 + 0.05));
	getrusage(RUSAGE_THREAD, &ru);
	printf("getrusage thread: %s\n", yes(ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6 >= 0.29));
	struct tms tm;
	times(&tm);
	printf("times: %s\n", yes(tm.tms_utime + tm.tms_stime >= 25));

	// /proc/self/stat: utime and stime (fields 14, 15) in clock ticks.
	FILE *f = fopen("/proc/self/stat", "r");
	unsigned long su = 0, ss = 0;
	if (f) {
		fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &su, &ss);
		fclose(f);
	}
	printf("/proc/self/stat times: %s\n", yes(su + ss >= 25));

	clockid_t cid;
	clock_getcpuclockid(0, &cid);
	double c = clk(cid);
	printf("clock_getcpuclockid: %s\n", yes(c >= p2 && c < p2 + 1));

	pthread_t th;
	double t0 = clk(CLOCK_THREAD_CPUTIME_ID), q0 = clk(CLOCK_PROCESS_CPUTIME_ID);
	pthread_create(&th, NULL, worker, NULL);
	pthread_join(th, NULL);
	double t1 = clk(CLOCK_THREAD_CPUTIME_ID), q1 = clk(CLOCK_PROCESS_CPUTIME_ID);
	printf("the worker's time counts for the process, not this thread: %s %s\n", yes(q1 - q0 >= 0.29),
	       yes(t1 - t0 < 0.25));
	pthread_getcpuclockid(pthread_self(), &cid);
	printf("pthread_getcpuclockid: %s\n", yes(clk(cid) >= t1 && clk(cid) < t1 + 1));
	return 0;
}
