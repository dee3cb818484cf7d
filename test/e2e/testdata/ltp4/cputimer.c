// POSIX timers on CPU-time clocks (LTP timer_create01): creation on each
// CPU clock and notification, the errors for clocks that name nothing,
// expirations as the CPU time is spent (SI_TIMER with id and value,
// process- and thread-directed, absolute and periodic with overrun),
// timer_gettime, timer_delete.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t fired, fired_code, fired_value, fired_id;

static void handler(int sig, siginfo_t *si, void *uc) {
	fired_code = si->si_code;
	fired_value = si->si_value.sival_int;
	fired_id = si->si_timerid;
	fired = 1;
}

static double mono(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

// spin burns CPU until *flag is set or 10 s pass; returns 0 on timeout.
static int spin(volatile sig_atomic_t *flag) {
	double end = mono() + 10;
	while (!*flag)
		if (mono() > end)
			return 0;
	return 1;
}

static long mk(clockid_t clk, int notify, int signo, int value, timer_t *id) {
	struct sigevent ev;
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = notify;
	ev.sigev_signo = signo;
	ev.sigev_value.sival_int = value;
	if (notify == SIGEV_THREAD_ID)
		ev._sigev_un._tid = syscall(SYS_gettid);
	return syscall(SYS_timer_create, clk, &ev, id);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	clockid_t pclk;
	int err = clock_getcpuclockid(getpid(), &pclk);
	printf("clock_getcpuclockid: %d\n", err);
	clockid_t clocks[] = {CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, pclk};
	const char *names[] = {"process", "thread", "getcpuclockid"};
	int notifies[] = {SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD_ID};
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			timer_t id;
			long r = mk(clocks[i], notifies[j], SIGALRM, 0, &id);
			printf("create %s notify %d: %ld %s", names[i], notifies[j], r, r ? strerror(errno) : "");
			if (r == 0)
				printf(" delete %ld", syscall(SYS_timer_delete, id));
			printf("\n");
		}
	timer_t id;
	// A clock of a process that does not exist, and "which" 3.
	clockid_t nopid = (clockid_t)((~99999) << 3) | 2;
	long r = syscall(SYS_timer_create, nopid, NULL, &id);
	printf("no such process: %ld %s\n", r, strerror(errno));
	r = syscall(SYS_timer_create, (clockid_t)((~0) << 3) | 3, NULL, &id);
	printf("bad which: %ld %s\n", r, strerror(errno));

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);

	// Process CPU clock, relative, process-directed.
	mk(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGUSR1, 42, &id);
	struct itimerspec its = {.it_value = {.tv_nsec = 20000000}};
	r = syscall(SYS_timer_settime, id, 0, NULL, NULL);
	printf("settime without a setting: %ld %s\n", r, strerror(errno));
	r = syscall(SYS_timer_settime, 12345, 0, NULL, NULL);
	printf("settime of no timer without a setting: %ld %s\n", r, strerror(errno));
	printf("settime: %d\n", timer_settime(id, 0, &its, NULL));
	struct itimerspec cur;
	timer_gettime(id, &cur);
	printf("gettime armed: %d interval %ld\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 20000000, (long)cur.it_interval.tv_nsec);
	int ok = spin(&fired);
	printf("process timer fired: %d code SI_TIMER %d value %d id ok %d\n", ok, fired_code == SI_TIMER, (int)fired_value, fired_id == (long)id);
	timer_gettime(id, &cur);
	printf("gettime after: %ld %ld\n", (long)cur.it_value.tv_sec, (long)cur.it_value.tv_nsec);
	printf("getoverrun: %d\n", timer_getoverrun(id));
	printf("delete: %d\n", timer_delete(id));
	r = timer_gettime(id, &cur);
	printf("gettime deleted: %ld %s\n", r, strerror(errno));

	// Thread CPU clock, absolute, to this thread, taken with sigwaitinfo.
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	mk(CLOCK_THREAD_CPUTIME_ID, SIGEV_THREAD_ID, SIGUSR2, 7, &id);
	struct timespec now;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
	its.it_value = now;
	its.it_value.tv_nsec += 20000000;
	if (its.it_value.tv_nsec >= 1000000000) {
		its.it_value.tv_sec++;
		its.it_value.tv_nsec -= 1000000000;
	}
	printf("settime abs: %d\n", timer_settime(id, TIMER_ABSTIME, &its, NULL));
	double end = mono() + 10;
	sigset_t pend;
	do
		sigpending(&pend);
	while (!sigismember(&pend, SIGUSR2) && mono() < end);
	siginfo_t si;
	int sig = sigwaitinfo(&set, &si);
	printf("thread timer: sig %d code SI_TIMER %d value %d\n", sig == SIGUSR2, si.si_code == SI_TIMER, si.si_value.sival_int);
	timer_delete(id);

	// Periodic: 1 ms while the signal stays blocked for 50 ms of CPU
	// time: one signal, the rest counted as its overrun. (Taken while
	// the timer is still armed: Linux drops a pending signal of a timer
	// set again.)
	mk(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGUSR2, 9, &id);
	its.it_value.tv_sec = 0;
	its.it_value.tv_nsec = 1000000;
	its.it_interval = its.it_value;
	timer_settime(id, 0, &its, NULL);
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	while ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec) < 50e6);
	sig = sigwaitinfo(&set, &si);
	printf("periodic: sig %d value %d overrun > 5 %d\n", sig == SIGUSR2, si.si_value.sival_int, si.si_overrun > 5);
	timer_delete(id);
	return 0;
}
