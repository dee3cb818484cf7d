// Two interval timers (ITIMER_REAL every 20 ms, a POSIX timer every 30 ms)
// tick until each has counted enough expirations (a POSIX timer's signal
// counts 1 + its overrun); every tick appends a byte to ./ticks so a
// test can watch progress (and kill the server meanwhile).
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms, posix;

static void on_alarm(int sig) { alarms++; }
static void on_usr1(int sig, siginfo_t *si, void *uc) { posix += 1 + si->si_overrun; }

int main(void) {
	int fd = open("ticks", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	signal(SIGALRM, on_alarm);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGUSR1;
	timer_t id;
	timer_create(CLOCK_MONOTONIC, &sev, &id);
	struct itimerspec its = {{0, 30000000}, {0, 30000000}};
	timer_settime(id, 0, &its, NULL);
	struct itimerval it = {{0, 20000}, {0, 20000}};
	setitimer(ITIMER_REAL, &it, NULL);
	while (alarms < 100 || posix < 60) {
		pause();
		write(fd, "x", 1);
	}
	struct itimerval stop = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &stop, NULL);
	timer_delete(id);
	printf("alarms at least 100, posix expirations at least 60\n");
	return 0;
}
