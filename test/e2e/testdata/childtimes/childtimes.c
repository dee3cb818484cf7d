// childtimes: the CPU times of reaped children (times' tms_cutime,
// getrusage(RUSAGE_CHILDREN), wait4's rusage): a waited child's, its own
// waited children's included; not a child reaped without a wait (SIGCHLD
// ignored) nor one not yet waited for. Prints coarse facts only, so that
// a native run and a sandboxed one print the same.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

// burn uses about secs of CPU time.
static void burn(double secs) {
	volatile unsigned long x = 0;
	double start = cpu_now();
	while (cpu_now() - start < secs)
		for (int i = 0; i < 100000; i++)
			x += i;
}

static double tv(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

// children_cpu is the reaped children's user and system time (the
// sandbox counts the time of calls it answers as system time, where
// Linux's vDSO answers clock_gettime in user time).
static double children_cpu(void) {
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return tv(ru.ru_utime) + tv(ru.ru_stime);
}

static pid_t spawn_burner(double secs, int grandchild) {
	pid_t pid = fork();
	if (pid == 0) {
		if (grandchild) {
			pid_t g = spawn_burner(secs, 0);
			waitpid(g, NULL, 0);
		}
		burn(secs);
		_exit(0);
	}
	return pid;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("start: children's CPU time %s\n", children_cpu() == 0 ? "0" : "not 0");

	// A child that has not been waited for counts for nothing yet.
	pid_t pid = spawn_burner(0.2, 0);
	sleep(1);
	printf("before the wait: children's CPU time %s\n", children_cpu() < 0.05 ? "< 0.05 s" : ">= 0.05 s");
	struct rusage ru;
	int status;
	if (wait4(pid, &status, 0, &ru) != pid) {
		perror("wait4");
		return 1;
	}
	printf("wait4 rusage CPU time %s\n", tv(ru.ru_utime) + tv(ru.ru_stime) >= 0.15 ? ">= 0.15 s" : "< 0.15 s");
	double after1 = children_cpu();
	printf("after the wait: children's CPU time %s\n", after1 >= 0.15 ? ">= 0.15 s" : "< 0.15 s");
	struct tms t;
	times(&t);
	long hz = sysconf(_SC_CLK_TCK);
	printf("times: tms_cutime + tms_cstime %s\n", (double)(t.tms_cutime + t.tms_cstime) / hz >= 0.1 ? ">= 0.1 s" : "< 0.1 s");

	// A child that waited for its own child passes both times on.
	pid = spawn_burner(0.2, 1);
	waitpid(pid, &status, 0);
	double after2 = children_cpu();
	printf("child and grandchild: %s\n", after2 - after1 >= 0.35 ? ">= 0.35 s more" : "< 0.35 s more");

	// A child reaped without a wait gives its times to no one.
	signal(SIGCHLD, SIG_IGN);
	pid = spawn_burner(0.2, 0);
	if (waitpid(pid, &status, 0) != -1 || errno != ECHILD) {
		printf("waitpid with SIGCHLD ignored did not fail ECHILD\n");
		return 1;
	}
	printf("reaped without a wait: %s\n", children_cpu() - after2 < 0.05 ? "not counted" : "counted");
	return 0;
}
