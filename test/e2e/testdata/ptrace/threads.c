// Threads made and joined one after the other, each writing a line: a
// workload for strace -f (PTRACE_O_TRACECLONE of threads, their exits).
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
static void *run(void *a) { syscall(SYS_write, 1, "thread\n", 7); return NULL; }
int main(void) {
	pthread_t t[3];
	// The pause after each join lets the tracer report the thread's exit
	// before the next line: a join returns when the thread cleared its
	// tid, before Linux reports its exit to strace (nanosleep is not
	// traced).
	for (int i = 0; i < 3; i++) { pthread_create(&t[i], NULL, run, NULL); pthread_join(t[i], NULL); usleep(100000); }
	syscall(SYS_write, 1, "main\n", 5);
	return 0;
}
