// rt_sigqueueinfo to a thread's id reaches its process, with the
// siginfo (LTP rt_sigqueueinfo01); rt_tgsigqueueinfo to one thread;
// clock_nanosleep on CLOCK_THREAD_CPUTIME_ID is EOPNOTSUPP (LTP
// clock_nanosleep01).
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile int tid, got_value, got_code, got_in_thread, handled;
static volatile int go;

static void handler(int sig, siginfo_t *si, void *uc) {
	got_value = si->si_value.sival_int;
	got_code = si->si_code;
	got_in_thread = syscall(SYS_gettid) == tid;
	__atomic_store_n(&handled, 1, __ATOMIC_SEQ_CST); // last: the waiter reads the rest after it
}

static void *thread(void *arg) {
	tid = syscall(SYS_gettid);
	while (!go)
		usleep(1000);
	return NULL;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	pthread_t th;
	pthread_create(&th, NULL, thread, NULL);
	while (!tid)
		usleep(1000);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = 42;
	long r = syscall(SYS_rt_sigqueueinfo, tid, SIGUSR1, &si);
	printf("rt_sigqueueinfo to a thread's id: %ld %s\n", r, r ? strerror(errno) : "");
	for (int i = 0; i < 1000 && !__atomic_load_n(&handled, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	printf("handled: value %d code SI_QUEUE %d\n", got_value, got_code == SI_QUEUE);
	handled = 0;
	si.si_value.sival_int = 43;
	r = syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGUSR1, &si);
	printf("rt_tgsigqueueinfo to the thread: %ld %s\n", r, r ? strerror(errno) : "");
	for (int i = 0; i < 1000 && !__atomic_load_n(&handled, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	printf("handled: value %d in that thread %d\n", got_value, got_in_thread);
	r = syscall(SYS_rt_tgsigqueueinfo, getpid(), getpid(), SIGUSR1, &si);
	printf("rt_tgsigqueueinfo of SI_QUEUE to the caller itself: %ld %s\n", r, r ? strerror(errno) : "");
	r = syscall(SYS_rt_sigqueueinfo, 99999, SIGUSR1, &si);
	printf("rt_sigqueueinfo to no process: %ld %s\n", r, r ? strerror(errno) : "");
	r = syscall(SYS_rt_tgsigqueueinfo, getpid(), 99999, SIGUSR1, &si);
	printf("rt_tgsigqueueinfo to no thread: %ld %s\n", r, r ? strerror(errno) : "");
	go = 1;
	pthread_join(th, NULL);
	// The system call itself: glibc's wrapper answers EINVAL alone.
	struct timespec ts = {0, 1000};
	r = syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL);
	printf("clock_nanosleep on the thread CPU clock: %ld %s\n", r, strerror(errno));
	return 0;
}
