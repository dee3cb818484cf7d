// Signals a process sends to itself and its own threads with kill,
// tkill, tgkill, raise and pthread_kill: the handler runs before a
// self-signal returns, in the thread named, with Linux's siginfo (SI_USER
// or SI_TKILL, the sender's pid and real uid); a blocked one stays pending and queues as Linux queues (standard
// signals once, real-time ones each time); SA_RESETHAND resets the
// handler; a joined thread is gone (ESRCH). CPU-time timers (ITIMER_PROF,
// a POSIX timer on the process's CPU clock) signal the process with
// SI_KERNEL and SI_TIMER. Output is compared with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int hits, lastCode, pidOK, uidOK, inThread;
static volatile pid_t handlerTid;

static volatile int otherHits;

static void otherHandler(int sig) {
	(void)sig;
	otherHits++;
}

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static void handler(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	hits++;
	lastCode = si->si_code;
	pidOK = si->si_pid == getpid();
	uidOK = si->si_uid == getuid();
	handlerTid = gettid_();
}

static void catchSig(int sig, int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | flags;
	sigaction(sig, &sa, NULL);
}

static void report(const char *what) {
	printf("%s: hits %d code %s pid %s uid %s\n", what, hits,
	       lastCode == SI_TKILL ? "SI_TKILL" : lastCode == SI_USER ? "SI_USER" : "other", pidOK ? "ok" : "wrong",
	       uidOK ? "ok" : "wrong");
	hits = 0;
}

static pthread_barrier_t ready, done;

static void *worker(void *arg) {
	(void)arg;
	pid_t *tid = arg;
	*tid = gettid_();
	pthread_barrier_wait(&ready);
	// The main thread signals us, then waits on done.
	while (!inThread)
		;
	pthread_barrier_wait(&done);
	return NULL;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	catchSig(SIGUSR1, 0);

	// A self-signal runs its handler before the call returns.
	syscall(SYS_tkill, gettid_(), SIGUSR1);
	report("tkill self");
	syscall(SYS_tgkill, getpid(), gettid_(), SIGUSR1);
	report("tgkill self");
	raise(SIGUSR1);
	report("raise");
	kill(getpid(), SIGUSR1);
	report("kill self");
	printf("handler ran in the caller: %s\n", handlerTid == gettid_() ? "yes" : "no");

	// Another thread of the process takes it in its own context.
	pthread_t th;
	pid_t wtid = 0;
	pthread_barrier_init(&ready, NULL, 2);
	pthread_barrier_init(&done, NULL, 2);
	pthread_create(&th, NULL, worker, &wtid);
	pthread_barrier_wait(&ready);
	handlerTid = 0;
	pthread_kill(th, SIGUSR1);
	while (handlerTid == 0)
		;
	printf("handler ran in the worker: %s\n", handlerTid == wtid ? "yes" : "no");
	inThread = 1;
	pthread_barrier_wait(&done);
	pthread_join(th, NULL);
	hits = 0;

	// A joined thread is gone, once its task is: Linux wakes the joiner
	// (CLONE_CHILD_CLEARTID) a moment before it releases the task.
	char taskPath[64];
	snprintf(taskPath, sizeof taskPath, "/proc/self/task/%d", (int)wtid);
	for (int i = 0; i < 2000 && access(taskPath, F_OK) == 0; i++)
		usleep(1000);
	errno = 0;
	long r = syscall(SYS_tgkill, getpid(), wtid, SIGUSR1);
	printf("tgkill of a joined thread: %ld %s\n", r, strerror(errno));
	errno = 0;
	r = syscall(SYS_tkill, wtid, SIGUSR1);
	printf("tkill of a joined thread: %ld %s\n", r, strerror(errno));

	// Blocked: pending; a standard signal once, a real-time one each time.
	catchSig(SIGRTMIN + 1, 0);
	sigset_t set, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < 3; i++) {
		raise(SIGUSR1);
		raise(SIGRTMIN + 1);
	}
	sigpending(&pend);
	printf("pending: SIGUSR1 %d SIGRTMIN+1 %d, hits %d\n", sigismember(&pend, SIGUSR1),
	       sigismember(&pend, SIGRTMIN + 1), hits);
	siginfo_t si;
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	int got = sigwaitinfo(&one, &si);
	printf("sigwaitinfo: %s code %s pid %s\n", got == SIGUSR1 ? "SIGUSR1" : "other",
	       si.si_code == SI_TKILL ? "SI_TKILL" : si.si_code == SI_USER ? "SI_USER" : "other", si.si_pid == getpid() ? "ok" : "wrong");
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("real-time handler runs after unblocking: %d\n", hits);
	hits = 0;

	// The disposition at delivery counts, not at generation: a blocked
	// signal whose handler changes runs the new one, whether this
	// process or another sent it; one whose disposition becomes SIG_IGN
	// is discarded.
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigaddset(&usr1, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	raise(SIGUSR1);
	pid_t child = fork();
	if (child == 0) {
		kill(getppid(), SIGUSR2);
		_exit(0);
	}
	waitpid(child, NULL, 0);
	signal(SIGUSR1, otherHandler);
	signal(SIGUSR2, otherHandler);
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	printf("handler changed while blocked: first %d, new %d\n", hits, otherHits);
	hits = otherHits = 0;
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	raise(SIGUSR1);
	signal(SIGUSR1, SIG_IGN);
	sigpending(&pend);
	printf("pending after SIG_IGN: %d\n", sigismember(&pend, SIGUSR1));
	signal(SIGUSR1, otherHandler);
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	printf("ignored while blocked: hits %d\n", otherHits);
	catchSig(SIGUSR1, 0);
	signal(SIGUSR2, SIG_DFL);

	// SA_RESETHAND: the handler once, then the default action.
	catchSig(SIGUSR2, SA_RESETHAND);
	raise(SIGUSR2);
	report("SA_RESETHAND");
	struct sigaction now;
	sigaction(SIGUSR2, NULL, &now);
	printf("after SA_RESETHAND: %s\n", now.sa_handler == SIG_DFL ? "SIG_DFL" : "handler");

	// Ignored and default-ignored: nothing happens.
	signal(SIGUSR2, SIG_IGN);
	raise(SIGUSR2);
	raise(SIGWINCH);
	printf("ignored: hits %d\n", hits);

	// CPU-time timers: ITIMER_PROF, then a POSIX timer on the process's
	// CPU clock.
	catchSig(SIGPROF, 0);
	struct itimerval it = {{0, 2000}, {0, 2000}};
	setitimer(ITIMER_PROF, &it, NULL);
	while (hits < 3)
		;
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_PROF, &off, NULL);
	printf("ITIMER_PROF: %s code %s\n", hits >= 3 ? "3 or more" : "fewer",
	       lastCode == SI_KERNEL ? "SI_KERNEL" : "other");
	hits = 0;
	catchSig(SIGRTMIN + 2, 0);
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN + 2;
	timer_t timer;
	timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &timer);
	struct itimerspec its = {{0, 2000000}, {0, 2000000}};
	timer_settime(timer, 0, &its, NULL);
	while (hits < 3)
		;
	timer_delete(timer);
	printf("CPU-clock timer: %s code %s\n", hits >= 3 ? "3 or more" : "fewer",
	       lastCode == SI_TIMER ? "SI_TIMER" : "other");
	hits = 0;

	// Signal 0 checks the thread exists.
	printf("signal 0: %ld\n", (long)syscall(SYS_tgkill, getpid(), gettid_(), 0));

	// Invalid arguments.
	errno = 0;
	r = syscall(SYS_tgkill, getpid(), gettid_(), 65);
	printf("signal 65: %ld %s\n", r, strerror(errno));
	errno = 0;
	r = syscall(SYS_tgkill, 0, gettid_(), SIGUSR1);
	printf("tgid 0: %ld %s\n", r, strerror(errno));
	errno = 0;
	r = syscall(SYS_tgkill, getpid() + 100000, gettid_(), SIGUSR1);
	printf("another tgid: %ld %s\n", r, strerror(errno));
	return 0;
}
