#define _GNU_SOURCE
// ru_maxrss of getrusage and wait4: a process's peak resident set, kept
// across exec, its reaped children's largest (not a zombie's, not one
// reaped without a wait), and /proc/self/status's VmSwap. Output is
// relational (sizes differ from a native run by the runtime's own), and
// compared with a native run.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define MB (1024 * 1024)

static long maxrss(int who) {
	struct rusage ru;
	getrusage(who, &ru);
	return ru.ru_maxrss; // KiB
}

static char *volatile kept;

static void touch(long mb) {
	char *p = malloc(mb * MB);
	memset(p, 1, mb * MB);
	kept = p; // not optimised away
}

static const char *atLeast(long kb, long mb) { return kb >= mb * 1024 ? "yes" : "no"; }

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1) {
		// After exec: the peak of the image before is kept.
		printf("after exec, self >= 60 MiB: %s\n", atLeast(maxrss(RUSAGE_SELF), 60));
		printf("after exec, children >= 120 MiB: %s\n", atLeast(maxrss(RUSAGE_CHILDREN), 120));
		return 0;
	}
	// (A process's peak starts at what its launcher had resident before
	// the exec that made it: Linux keeps it across exec.)
	touch(64);
	printf("self >= 60 MiB: %s\n", atLeast(maxrss(RUSAGE_SELF), 60));
	printf("thread >= 60 MiB: %s\n", atLeast(maxrss(RUSAGE_THREAD), 60));
	printf("children before any: %ld\n", maxrss(RUSAGE_CHILDREN));

	// A child that touches 128 MiB: counted once reaped, not as a zombie.
	pid_t pid = fork();
	if (pid == 0) {
		printf("forked child starts near its parent: %s\n", atLeast(maxrss(RUSAGE_SELF), 60));
		printf("forked child's children: %ld\n", maxrss(RUSAGE_CHILDREN));
		touch(128);
		_exit(0);
	}
	siginfo_t si;
	waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
	printf("zombie counted: %s\n", maxrss(RUSAGE_CHILDREN) > 0 ? "yes" : "no");
	struct rusage ru;
	wait4(pid, NULL, 0, &ru);
	printf("wait4 rusage >= 120 MiB: %s\n", atLeast(ru.ru_maxrss, 120));
	printf("children >= 120 MiB: %s\n", atLeast(maxrss(RUSAGE_CHILDREN), 120));

	// A grandchild's peak reaches its grandparent through its parent.
	long children = maxrss(RUSAGE_CHILDREN);
	pid = fork();
	if (pid == 0) {
		if (fork() == 0) {
			touch(256);
			_exit(0);
		}
		wait(NULL);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("grandchild's 256 MiB counted: %s\n", maxrss(RUSAGE_CHILDREN) >= 250 * 1024 ? "yes" : "no");

	// Reaped without a wait: not counted.
	children = maxrss(RUSAGE_CHILDREN);
	signal(SIGCHLD, SIG_IGN);
	pid = fork();
	if (pid == 0) {
		touch(300);
		_exit(0);
	}
	while (kill(pid, 0) == 0)
		usleep(1000);
	printf("auto-reaped child counted: %s\n", maxrss(RUSAGE_CHILDREN) != children ? "yes" : "no");
	signal(SIGCHLD, SIG_DFL);

	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmSwap:", 7) == 0)
			printf("status has VmSwap: %s", strchr(line, '0') ? "0\n" : line);
	fclose(f);

	execl("/proc/self/exe", argv[0], "after", (char *)NULL);
	return 1;
}
