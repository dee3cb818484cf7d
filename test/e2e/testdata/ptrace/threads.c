// Threads made and joined one after the other, each writing a line: a
// workload for strace -f (PTRACE_O_TRACECLONE of threads, their exits).
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
static void *run(void *a) { syscall(SYS_write, 1, "thread\n", 7); return NULL; }
int main(void) {
	pthread_t t[3];
	for (int i = 0; i < 3; i++) { pthread_create(&t[i], NULL, run, NULL); pthread_join(t[i], NULL); }
	syscall(SYS_write, 1, "main\n", 5);
	return 0;
}
