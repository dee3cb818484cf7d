// nicelimit: RLIMIT_NICE lets a process without CAP_SYS_NICE lower its
// nice value down to 20 - the limit, RLIMIT_RTPRIO take a real-time
// priority up to the limit; a fork inherits both. Prints what happened;
// run natively and sandboxed (as root, which drops to another user).
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *result(int r) { return r == 0 ? "ok" : strerror(errno); }

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct rlimit nice = {25, 25}, rt = {10, 10};
	if (setrlimit(RLIMIT_NICE, &nice) != 0 || setrlimit(RLIMIT_RTPRIO, &rt) != 0) {
		perror("setrlimit");
		return 1;
	}
	if (setresuid(65534, 65534, 65534) != 0) {
		perror("setresuid");
		return 1;
	}
	printf("nice -5: %s\n", result(setpriority(PRIO_PROCESS, 0, -5)));
	printf("nice -6: %s\n", result(setpriority(PRIO_PROCESS, 0, -6)));
	struct sched_param p = {.sched_priority = 11};
	printf("FIFO 11: %s\n", result(sched_setscheduler(0, SCHED_FIFO, &p)));
	p.sched_priority = 10;
	printf("FIFO 10: %s\n", result(sched_setscheduler(0, SCHED_FIFO, &p)));
	pid_t pid = fork();
	if (pid == 0) {
		p.sched_priority = 0;
		printf("child back to SCHED_OTHER: %s\n", result(sched_setscheduler(0, SCHED_OTHER, &p)));
		printf("child nice 0: %s\n", result(setpriority(PRIO_PROCESS, 0, 0)));
		printf("child nice -5: %s\n", result(setpriority(PRIO_PROCESS, 0, -5)));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	return 0;
}
