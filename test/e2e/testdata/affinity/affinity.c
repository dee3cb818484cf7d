// affinity: sched_setaffinity and sched_getaffinity keep each thread's
// allowed CPUs (inherited by a child), getcpu names an allowed one, and
// the calls fail as Linux's: EINVAL for a size not in whole longs or a set
// without an online CPU, EFAULT, ESRCH for no such thread, EPERM for
// another user's. Prints what happened; run natively and sandboxed (as
// root, on the same machine).
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int count(void) {
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0) {
		perror("sched_getaffinity");
		exit(1);
	}
	return CPU_COUNT(&set);
}

static const char *result(long r) { return r == 0 ? "ok" : strerror(errno); }

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("allowed CPUs at first: %s\n", count() == ncpu ? "all" : "not all");

	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(ncpu - 1, &one);
	printf("set to the last CPU: %s\n", result(sched_setaffinity(0, sizeof one, &one)));
	printf("allowed CPUs now: %d\n", count());
	unsigned cpu = 99;
	syscall(SYS_getcpu, &cpu, NULL, NULL);
	printf("getcpu is the last CPU: %s\n", (long)cpu == ncpu - 1 ? "yes" : "no");

	pid_t pid = fork();
	if (pid == 0) {
		printf("the child's allowed CPUs: %d\n", count());
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	cpu_set_t none;
	CPU_ZERO(&none);
	printf("an empty set: %s\n", result(sched_setaffinity(0, sizeof none, &none)));
	printf("a size of 4: %s\n", result(syscall(SYS_sched_getaffinity, 0, 4, &one) < 0 ? -1 : 0));
	printf("an unmapped mask: %s\n", result(sched_setaffinity(0, sizeof one, (cpu_set_t *)8)));
	printf("a reaped child: %s\n", result(sched_setaffinity(pid, sizeof one, &one)));

	pid_t parent = getpid();
	pid = fork();
	if (pid == 0) {
		if (setresuid(65534, 65534, 65534) != 0) {
			perror("setresuid");
			_exit(1);
		}
		printf("another user's process: %s\n", result(sched_setaffinity(parent, sizeof one, &one)));
		printf("its own: %s\n", result(sched_setaffinity(0, sizeof one, &one)));
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	CPU_ZERO(&one);
	for (int i = 0; i < ncpu; i++)
		CPU_SET(i, &one);
	printf("back to all: %s\n", result(sched_setaffinity(0, sizeof one, &one)));
	printf("allowed CPUs: %s\n", count() == ncpu ? "all" : "not all");
	return 0;
}
