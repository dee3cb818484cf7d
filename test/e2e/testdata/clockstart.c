// clockstart: 1,000 reads of CLOCK_MONOTONIC through libc's vDSO call as
// soon as the program starts: with the sandbox's clock calibrated by
// then, none of them is a system call.
#include <stdio.h>
#include <time.h>

int main(void) {
	struct timespec ts;
	long long sum = 0;
	for (int i = 0; i < 1000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sum += ts.tv_nsec & 1;
	}
	printf("1000 reads (%s)\n", sum >= 0 ? "done" : "?");
	return 0;
}
