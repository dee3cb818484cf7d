// ITIMER_VIRTUAL and ITIMER_PROF count CPU time: a computing loop gets
// SIGVTALRM and SIGPROF (si_code SI_KERNEL); a sleeping process does not;
// getitimer counts down; bad arguments are EINVAL.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t vt, prof, kernel_code = 1;
static volatile unsigned long sink;

static void handler(int sig, siginfo_t *si, void *uc) {
	if (sig == SIGVTALRM)
		vt++;
	else
		prof++;
	if (si->si_code != SI_KERNEL)
		kernel_code = 0;
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGVTALRM, &sa, NULL);
	sigaction(SIGPROF, &sa, NULL);

	// Sleeping consumes no CPU: no signal. (The timer's 2 s is far above
	// the few instructions run; a thread the host preempts while it runs
	// them is charged for the time, as in gVisor, so a loaded machine
	// must not make them count as 50 ms.)
	struct itimerval one = {{0, 0}, {2, 0}};
	setitimer(ITIMER_VIRTUAL, &one, NULL);
	usleep(200000);
	printf("after sleeping: %d SIGVTALRM\n", (int)vt);
	struct itimerval cur;
	getitimer(ITIMER_VIRTUAL, &cur);
	long left = cur.it_value.tv_sec * 1000000L + cur.it_value.tv_usec;
	printf("still armed, most of it left: %s\n", left > 1000000 && left < 3000000 ? "yes" : "no");
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_VIRTUAL, &off, NULL);

	// Computing: 3 SIGVTALRM from a 20 ms interval, SIGPROF too.
	struct itimerval iv = {{0, 20000}, {0, 20000}};
	setitimer(ITIMER_VIRTUAL, &iv, NULL);
	setitimer(ITIMER_PROF, &iv, NULL);
	while (vt < 3 || prof < 3)
		for (int i = 0; i < 100000; i++)
			sink += i;
	struct itimerval stop = {{0, 0}, {0, 0}}, old;
	setitimer(ITIMER_VIRTUAL, &stop, &old);
	setitimer(ITIMER_PROF, &stop, NULL);
	printf("computing: at least 3 of each: yes, SI_KERNEL: %s, old interval %ld\n", kernel_code ? "yes" : "no",
	       (long)old.it_interval.tv_usec);
	getitimer(ITIMER_PROF, &cur);
	printf("stopped: %ld %ld\n", (long)cur.it_value.tv_sec, (long)cur.it_value.tv_usec);

	struct itimerval bad = {{0, 0}, {0, 1000000}};
	int r = setitimer(ITIMER_PROF, &bad, NULL);
	printf("bad usec: %d %s\n", r, r ? strerror(errno) : "ok");

	// Without a handler SIGPROF kills (in a child: the first process
	// ignores it, as a namespace's init does).
	if (fork() == 0) {
		signal(SIGPROF, SIG_DFL);
		setitimer(ITIMER_PROF, &iv, NULL);
		for (;;)
			sink++;
	}
	int st;
	wait(&st);
	printf("child killed by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 0;
}
