// A periodic timer whose signal stays blocked: its firings coalesce into
// one signal whose si_overrun counts the rest, and timer_getoverrun
// returns the same count once the signal is taken.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	// No handler: the blocked signal with SIG_DFL waits for sigwaitinfo.
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN;
	timer_t id;
	timer_create(CLOCK_MONOTONIC, &sev, &id);
	printf("getoverrun before: %d\n", timer_getoverrun(id));
	struct itimerspec its = {{0, 5000000}, {0, 5000000}};
	timer_settime(id, 0, &its, NULL);
	usleep(200000);
	siginfo_t si;
	sigwaitinfo(&set, &si);
	printf("one signal with overrun > 10: %s\n", si.si_overrun > 10 ? "yes" : "no");
	printf("timer_getoverrun matches: %s\n", timer_getoverrun(id) == si.si_overrun ? "yes" : "no");
	struct itimerspec stop = {{0, 0}, {0, 0}};
	timer_settime(id, 0, &stop, NULL);
	struct timespec zero = {0, 0};
	int more = 0;
	while (sigtimedwait(&set, &si, &zero) > 0)
		more++;
	printf("at most one more signal: %s\n", more <= 1 ? "yes" : "no");
	timer_delete(id);
	return 0;
}
