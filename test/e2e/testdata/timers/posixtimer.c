// timer_create with SIGEV_SIGNAL, SIGEV_THREAD_ID and SIGEV_NONE on the
// realtime, monotonic and boottime clocks: si_code SI_TIMER, si_value,
// si_timerid, the thread a SIGEV_THREAD_ID timer targets, absolute
// times, timer_gettime, timer_delete and the errors.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got, code, value, timerid_ok, on_tid;
static timer_t expect_id;

static void handler(int sig, siginfo_t *si, void *uc) {
	code = si->si_code;
	value = si->si_value.sival_int;
	on_tid = syscall(SYS_gettid);
	got = sig; // last: main() polls it
}

static timer_t make(clockid_t clk, int notify, int sig, int val, pid_t tid) {
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = notify;
	sev.sigev_signo = sig;
	sev.sigev_value.sival_int = val;
	sev._sigev_un._tid = tid;
	timer_t id;
	if (timer_create(clk, &sev, &id) != 0) {
		printf("timer_create: %s\n", strerror(errno));
		return (timer_t)-1;
	}
	return id;
}

static void arm(timer_t id, long ms) {
	struct itimerspec its = {{0, 0}, {ms / 1000, (ms % 1000) * 1000000}};
	if (timer_settime(id, 0, &its, NULL) != 0)
		printf("timer_settime: %s\n", strerror(errno));
}

static void wait_got(void) {
	for (int i = 0; i < 500 && !got; i++)
		usleep(10000);
}

static pid_t worker_tid;
static volatile int stop_worker;

static void *worker(void *arg) {
	worker_tid = syscall(SYS_gettid);
	while (!stop_worker)
		usleep(1000);
	return NULL;
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);

	clockid_t clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME};
	const char *names[] = {"realtime", "monotonic", "boottime"};
	for (int i = 0; i < 3; i++) {
		got = 0;
		timer_t id = make(clocks[i], SIGEV_SIGNAL, SIGRTMIN, 40 + i, 0);
		arm(id, 20);
		wait_got();
		printf("%s: signal %s, SI_TIMER %s, value %d\n", names[i], got == SIGRTMIN ? "SIGRTMIN" : "none",
		       code == SI_TIMER ? "yes" : "no", (int)value);
		timer_delete(id);
	}

	// si_timerid, through sigwaitinfo.
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	timer_t a = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 7, 0);
	arm(a, 10);
	siginfo_t si;
	int s = sigwaitinfo(&set, &si);
	printf("sigwaitinfo: %s, timerid matches %s, overrun %d, value %d\n", s == SIGUSR1 ? "SIGUSR1" : "other",
	       si.si_timerid == (int)(long)a ? "yes" : "no", si.si_overrun, si.si_value.sival_int);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	timer_delete(a);

	// An absolute expiration on the monotonic clock.
	got = 0;
	timer_t abs = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 9, 0);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	now.tv_nsec += 30000000;
	if (now.tv_nsec >= 1000000000) {
		now.tv_sec++;
		now.tv_nsec -= 1000000000;
	}
	struct itimerspec its = {{0, 0}, now};
	timer_settime(abs, TIMER_ABSTIME, &its, NULL);
	wait_got();
	printf("absolute: value %d\n", (int)value);
	timer_delete(abs);

	// SIGEV_THREAD_ID: the signal goes to that thread.
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	while (!worker_tid)
		usleep(1000);
	got = 0;
	timer_t t = make(CLOCK_MONOTONIC, SIGEV_THREAD_ID | SIGEV_SIGNAL, SIGRTMIN, 11, worker_tid);
	arm(t, 20);
	wait_got();
	printf("thread id: value %d, on the worker %s\n", (int)value, on_tid == worker_tid ? "yes" : "no");
	timer_delete(t);
	stop_worker = 1;
	pthread_join(th, NULL);
	timer_t badtid = make(CLOCK_MONOTONIC, SIGEV_THREAD_ID | SIGEV_SIGNAL, SIGRTMIN, 0, 999999);
	printf("bad thread id: %s\n", badtid == (timer_t)-1 ? "refused" : "accepted");

	// SIGEV_NONE: no signal; timer_gettime counts down, then reads 0.
	got = 0;
	timer_t n = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
	struct itimerspec set1 = {{0, 0}, {0, 200000000}}, cur, old;
	timer_settime(n, 0, &set1, NULL);
	timer_gettime(n, &cur);
	printf("none: counting down %s\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 200000000 ? "yes" : "no");
	usleep(300000);
	timer_gettime(n, &cur);
	printf("none: after %ld.%09ld, signal %d\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec, (int)got);
	struct itimerspec per = {{1, 0}, {5, 0}};
	timer_settime(n, 0, &per, NULL);
	timer_settime(n, 0, &set1, &old);
	printf("old: interval %ld, value about 5: %s\n", (long)old.it_interval.tv_sec,
	       old.it_value.tv_sec == 4 || old.it_value.tv_sec == 5 ? "yes" : "no");
	timer_delete(n);

	// Default sigevent: SIGALRM with the timer id as value.
	got = 0;
	timer_t d;
	timer_create(CLOCK_REALTIME, NULL, &d);
	arm(d, 10);
	wait_got();
	printf("default: SIGALRM %s, value is the id %s\n", got == SIGALRM ? "yes" : "no", value == (int)(long)d ? "yes" : "no");
	timer_delete(d);

	// Errors.
	int r = timer_gettime(d, &cur);
	printf("gettime deleted: %d %s\n", r, r ? strerror(errno) : "ok");
	r = timer_delete(d);
	printf("delete deleted: %d %s\n", r, r ? strerror(errno) : "ok");
	r = syscall(SYS_timer_getoverrun, 12345);
	printf("getoverrun bad id: %d %s\n", r, r < 0 ? strerror(errno) : "ok");
	timer_t x;
	r = timer_create(100, NULL, &x);
	printf("bad clock: %d %s\n", r, r ? strerror(errno) : "ok");
	struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = 99};
	r = timer_create(CLOCK_MONOTONIC, &sev, &x);
	printf("bad signal: %d %s\n", r, r ? strerror(errno) : "ok");
	timer_t y = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, 0);
	struct itimerspec badns = {{0, 0}, {0, 1000000000}};
	r = timer_settime(y, 0, &badns, NULL);
	printf("bad nsec: %d %s\n", r, r ? strerror(errno) : "ok");
	r = timer_settime(y, 8, &set1, NULL);
	printf("bad flags: %d %s\n", r, r ? strerror(errno) : "ok");
	return 0;
}
