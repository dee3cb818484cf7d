// SIGEV_THREAD: glibc runs the callback on a helper thread that waits for
// the timer's signal (SIGTIMER, no handler, blocked) with sigwaitinfo.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int fired, calls;

static void callback(union sigval v) {
	fired = v.sival_int;
	calls++;
}

int main(void) {
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = callback;
	sev.sigev_value.sival_int = 42;
	timer_t id;
	if (timer_create(CLOCK_MONOTONIC, &sev, &id) != 0) {
		perror("timer_create");
		return 1;
	}
	struct itimerspec its = {{0, 20000000}, {0, 20000000}};
	timer_settime(id, 0, &its, NULL);
	for (int i = 0; i < 500 && calls < 3; i++)
		usleep(10000);
	timer_delete(id);
	printf("callback ran at least 3 times: %s, with value %d\n", calls >= 3 ? "yes" : "no", fired);
	return 0;
}
