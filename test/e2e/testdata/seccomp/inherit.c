// Filters are inherited over fork, clone of a thread and exec, and
// SECCOMP_FILTER_FLAG_TSYNC gives them to the other threads (or names
// the thread that cannot take them), printed for a comparison with a
// native run.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define DENY(nr, ret) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, (ret))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static long install(unsigned nr, unsigned err, unsigned flags) {
	struct sock_filter f[] = {LOAD_NR, DENY(nr, SECCOMP_RET_ERRNO | err), ALLOW};
	struct sock_fprog p = {sizeof(f) / sizeof(f[0]), f};
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p);
	return r < 0 ? -errno : r;
}

static const char *try(long nr) {
	errno = 0;
	long r = syscall(nr, 0);
	static char buf[64];
	if (r < 0)
		snprintf(buf, sizeof buf, "denied (%s)", strerror(errno));
	else
		snprintf(buf, sizeof buf, "allowed");
	return buf;
}

static pthread_barrier_t bar;
static volatile long own_result;

static void *sibling(void *arg) {
	long mode = (long)arg;
	if (mode == 1) // a filter of its own: TSYNC cannot replace it
		own_result = install(SYS_getsid, EPERM, 0);
	pthread_barrier_wait(&bar); // the main thread installs
	pthread_barrier_wait(&bar);
	printf("sibling getpgid: %s, mode %d\n", try(SYS_getpgid), prctl(PR_GET_SECCOMP));
	return NULL;
}

static void *late(void *arg) {
	(void)arg;
	printf("thread made after: getpgid %s\n", try(SYS_getpgid));
	return NULL;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1) {
		printf("after exec: mode %d, getppid %s", prctl(PR_GET_SECCOMP), try(SYS_getppid));
		printf(", getuid %s\n", try(SYS_getuid));
		return 0;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

	// Without TSYNC, a running sibling keeps no filter; with it, the
	// sibling gets the caller's.
	for (int tsync = 0; tsync < 2; tsync++) {
		pid_t pid = fork();
		if (pid == 0) {
			pthread_t th;
			pthread_barrier_init(&bar, NULL, 2);
			pthread_create(&th, NULL, sibling, (void *)0);
			pthread_barrier_wait(&bar);
			printf("tsync=%d install: %ld\n", tsync, install(SYS_getpgid, EPERM, tsync ? SECCOMP_FILTER_FLAG_TSYNC : 0));
			printf("main getpgid: %s\n", try(SYS_getpgid));
			pthread_barrier_wait(&bar);
			pthread_join(th, NULL);
			pthread_create(&th, NULL, late, NULL);
			pthread_join(th, NULL);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
	}

	// TSYNC fails with the id of a sibling whose filters are not an
	// ancestor of the caller's; with TSYNC_ESRCH it fails with ESRCH.
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t th;
		pthread_barrier_init(&bar, NULL, 2);
		pthread_create(&th, NULL, sibling, (void *)1);
		pthread_barrier_wait(&bar);
		printf("sibling's own filter: %ld\n", own_result);
		long r = install(SYS_getpgid, EPERM, SECCOMP_FILTER_FLAG_TSYNC);
		printf("tsync over a foreign filter: %s\n", r > 0 ? "a thread id" : strerror(-r));
		r = install(SYS_getpgid, EPERM, SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH);
		printf("with TSYNC_ESRCH: %s\n", r > 0 ? "a thread id" : strerror(-r));
		printf("main getpgid: %s\n", try(SYS_getpgid));
		pthread_barrier_wait(&bar);
		pthread_join(th, NULL);
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	// Fork and exec keep the filters.
	printf("install: %ld\n", install(SYS_getppid, EPERM, 0));
	printf("install: %ld\n", install(SYS_getuid, EACCES, 0));
	pid = fork();
	if (pid == 0) {
		printf("forked child: mode %d, getppid %s\n", prctl(PR_GET_SECCOMP), try(SYS_getppid));
		execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
		perror("execl");
		_exit(1);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("child status %d\n", st);
	return 0;
}
