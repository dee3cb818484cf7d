/* Shared by the SysV IPC test programs: each call's result or errno name is
 * printed, so the output can be compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

/* Unbuffered, so that a forked child does not print its parent's
 * buffered output again. */
__attribute__((constructor)) static void unbuffered(void) { setvbuf(stdout, NULL, _IONBF, 0); }

static void report(const char *what, long r) {
	if (r < 0)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

#define T(expr) report(#expr, (long)(expr))

/* TOK is T for calls whose result differs between runs (ids,
 * addresses): success prints "ok". */
__attribute__((unused)) static long reportOK(const char *what, long r) {
	if (r < 0 || r == -1L)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = ok\n", what);
	fflush(stdout);
	return r;
}
#define TOK(expr) reportOK(#expr, (long)(expr))

/* must aborts on a failing setup step. */
#define must(expr) do { if ((long)(expr) < 0) { printf("setup %s: %s\n", #expr, strerror(errno)); exit(99); } } while (0)

/* waitsleeping waits (up to 10 s) until process pid sleeps, i.e. is
 * blocked in the call it was started to make. */
__attribute__((unused)) static void waitsleeping(pid_t pid) {
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 2000; i++) {
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			size_t n = fread(buf, 1, sizeof buf - 1, f);
			fclose(f);
			buf[n] = 0;
			char *p = strrchr(buf, ')');
			if (p != NULL && p[1] == ' ' && p[2] == 'S')
				return;
		}
		usleep(5000);
	}
}

/* waitchild waits for pid and prints how it ended. */
static void waitchild(const char *who, pid_t pid) {
	int st;
	if (waitpid(pid, &st, 0) < 0) {
		printf("waitpid %s = -1 %s\n", who, strerrorname_np(errno));
		return;
	}
	if (WIFSIGNALED(st))
		printf("%s killed by %s\n", who, sigabbrev_np(WTERMSIG(st)));
	else
		printf("%s exited %d\n", who, WEXITSTATUS(st));
}
