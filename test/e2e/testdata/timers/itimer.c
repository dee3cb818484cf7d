// setitimer(ITIMER_REAL) with an interval: a counting handler sees three
// SIGALRMs, then the timer is stopped; bad values are EINVAL. SIGALRM is
// blocked outside sigsuspend, so the count is exact however loaded the
// machine (one expiry may be pending when the timer is stopped).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t count;

static void on_alarm(int sig) { count++; }

int main(void) {
	signal(SIGALRM, on_alarm);
	sigset_t alrm, unblocked;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, &unblocked);
	struct itimerval it = {{0, 50000}, {0, 50000}}, old;
	if (setitimer(ITIMER_REAL, &it, &old) != 0) {
		perror("setitimer");
		return 1;
	}
	printf("old: %ld %ld %ld %ld\n", (long)old.it_interval.tv_sec, (long)old.it_interval.tv_usec,
	       (long)old.it_value.tv_sec, (long)old.it_value.tv_usec);
	while (count < 3)
		sigsuspend(&unblocked);
	struct itimerval stop = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &stop, &old);
	printf("count %d, old interval %ld usec, old value <= interval: %s\n", (int)count,
	       (long)old.it_interval.tv_usec, old.it_value.tv_sec == 0 && old.it_value.tv_usec <= 50000 ? "yes" : "no");
	int before = count;
	sigprocmask(SIG_SETMASK, &unblocked, NULL);
	usleep(200000);
	printf("fired after stop: %s\n", count > before + 1 ? "yes" : "no");
	getitimer(ITIMER_REAL, &old);
	printf("stopped: %ld %ld\n", (long)old.it_value.tv_sec, (long)old.it_value.tv_usec);

	struct itimerval bad = {{0, 0}, {0, 1000000}};
	int r = setitimer(ITIMER_REAL, &bad, NULL);
	printf("usec 1000000: %d %s\n", r, r ? strerror(errno) : "ok");
	r = setitimer(7, &it, NULL);
	printf("which 7: %d %s\n", r, r ? strerror(errno) : "ok");
	r = getitimer(7, &old);
	printf("getitimer 7: %d %s\n", r, r ? strerror(errno) : "ok");
	return 0;
}
