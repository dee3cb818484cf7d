// kcmp's answers, raw (0, or the order 1 or 2), among a process, a fork
// child, clones sharing everything or only the address space, and a
// thread, for every object type and for dup'ed and reopened fds, each
// round compared with the first round's: a server kill must not change
// which objects are shared nor how they are ordered (their replay ids).
// Prints the rounds that differed (none) and the first round's equal /
// not-equal pattern of the types Linux always gives every task (not the
// lazily allocated I/O context and undo list).
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NTASKS 5
#define MAXANS 1024

static int pfd[2];
static volatile pid_t thread_tid;
static char stacks[2][1 << 16] __attribute__((aligned(16)));

static int block(void *own_table) {
	char c;
	if (own_table)
		close(pfd[1]);
	read(pfd[0], &c, 1);
	return 0;
}

static void *thread_fn(void *arg) {
	(void)arg;
	thread_tid = syscall(SYS_gettid);
	block(NULL);
	return NULL;
}

static int answers(pid_t *tasks, long *out, char *pattern) {
	int n = 0;
	for (int i = 0; i < NTASKS; i++)
		for (int j = 0; j < NTASKS; j++) {
			for (int type = KCMP_VM; type <= KCMP_SYSVSEM; type++) {
				long r = syscall(SYS_kcmp, tasks[i], tasks[j], type, 0, 0);
				out[n++] = r;
				if (pattern && type <= KCMP_SIGHAND)
					*pattern++ = r == 0 ? '=' : r < 0 ? 'E' : '.';
			}
			for (int fd1 = 3; fd1 <= 5; fd1++)
				for (int fd2 = 3; fd2 <= 5; fd2++) {
					long r = syscall(SYS_kcmp, tasks[i], tasks[j], KCMP_FILE, fd1, fd2);
					out[n++] = r;
					if (pattern)
						*pattern++ = r == 0 ? '=' : r < 0 ? 'E' : '.';
				}
			if (pattern)
				*pattern++ = j == NTASKS - 1 ? '\n' : ' ';
		}
	if (pattern)
		*pattern = 0;
	return n;
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	setvbuf(stdout, NULL, _IOLBF, 0);
	int a = open("kcmp.txt", O_CREAT | O_RDWR | O_TRUNC, 0644); // 3
	dup(a);                                                    // 4
	open("kcmp.txt", O_RDWR);                                  // 5
	if (pipe(pfd) != 0) {
		perror("pipe");
		return 1;
	}
	pid_t tasks[NTASKS] = {getpid()};
	if ((tasks[1] = fork()) == 0)
		_exit(block((void *)1));
	tasks[2] = clone(block, stacks[0] + sizeof stacks[0],
			 CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_IO | CLONE_SYSVSEM | SIGCHLD, NULL);
	tasks[3] = clone(block, stacks[1] + sizeof stacks[1], CLONE_VM | SIGCHLD, (void *)1);
	pthread_t th;
	pthread_create(&th, NULL, thread_fn, NULL);
	while (thread_tid == 0)
		sched_yield();
	tasks[4] = thread_tid;

	static long first[MAXANS], now[MAXANS];
	static char pattern[MAXANS * 2];
	int n = answers(tasks, first, pattern);
	int differed = 0;
	FILE *log = fopen("rounds.txt", "w");
	for (int i = 1; i < rounds; i++) {
		answers(tasks, now, NULL);
		if (memcmp(first, now, n * sizeof first[0]) != 0)
			differed++;
		fprintf(log, "round %d\n", i);
		fflush(log);
	}
	fclose(log);
	close(pfd[1]);
	pthread_join(th, NULL);
	for (int i = 1; i <= 3; i++)
		waitpid(tasks[i], NULL, __WALL);
	printf("%d answers, %d rounds, %d differed from the first\n%s", n, rounds, differed, pattern);
	return 0;
}
