// clockloop: after a second (the sandbox's clock calibration is ready
// 100 ms after it starts), 100,000 reads of each of CLOCK_MONOTONIC,
// CLOCK_REALTIME, gettimeofday and time through libc, which calls the
// vDSO: with one, none of them is a system call.
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	sleep(1);
	struct timespec ts;
	struct timeval tv;
	long long sum = 0;
	for (int i = 0; i < 100000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sum += ts.tv_nsec & 1;
		clock_gettime(CLOCK_REALTIME, &ts);
		sum += ts.tv_nsec & 1;
		gettimeofday(&tv, NULL);
		sum += tv.tv_usec & 1;
		sum += time(NULL) & 1;
	}
	printf("400000 reads (%s)\n", sum >= 0 ? "done" : "?");
	return 0;
}
