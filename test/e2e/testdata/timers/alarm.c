// alarm: SIGALRM (si_code SI_KERNEL) ends pause; alarm returns the
// seconds left of the previous alarm; getitimer sees ITIMER_REAL.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got, code;

static void on_alarm(int sig, siginfo_t *si, void *uc) {
	got = sig;
	code = si->si_code;
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_alarm;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGALRM, &sa, NULL);

	printf("first alarm returns %u\n", alarm(10));
	struct itimerval it;
	getitimer(ITIMER_REAL, &it);
	printf("armed: %s, interval %ld\n", it.it_value.tv_sec >= 9 && it.it_value.tv_sec <= 10 ? "yes" : "no",
	       (long)it.it_interval.tv_sec);
	printf("second alarm returns %u\n", alarm(1));
	int r = pause();
	printf("pause: %d %s, got %d, si_code SI_KERNEL: %s\n", r, strerror(errno), got,
	       code == SI_KERNEL ? "yes" : "no");
	getitimer(ITIMER_REAL, &it);
	printf("after: %ld.%06ld\n", (long)it.it_value.tv_sec, (long)it.it_value.tv_usec);
	printf("alarm(0) returns %u\n", alarm(0));

	// An alarm cancelled before it fires never fires.
	got = 0;
	alarm(1);
	alarm(0);
	usleep(1300 * 1000);
	printf("cancelled alarm fired: %s\n", got ? "yes" : "no");

	// Without a handler, SIGALRM kills (the shell reports 142).
	signal(SIGALRM, SIG_DFL);
	if (fork() == 0) {
		alarm(1);
		pause();
		_exit(0);
	}
	int st;
	wait(&st);
	printf("child killed by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 0;
}
