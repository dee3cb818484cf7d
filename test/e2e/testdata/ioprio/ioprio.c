// ioprio: ioprio_set and ioprio_get of a thread, a process group and a
// user, their checks, and a child's inheritance, printed one per line; the
// test compares them with a native run. The program makes its own process
// group and uses a user of its own, so that no other process of the host
// is among those named. Data above the level (Linux 6.5's hints, which the
// kernel the sandbox reports refuses) is sentry/server's TestIoprioData.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PRIO(class, data) (((class) << 13) | (data))
enum { NONE, RT, BE, IDLE };
enum { WHO_PROCESS = 1, WHO_PGRP, WHO_USER };
#define USER 54321

static void show(const char *what, long r) {
	if (r < 0)
		printf("%-36s -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%-36s %#lx\n", what, r);
}
#define SET(what, which, who, prio) show(what, syscall(SYS_ioprio_set, which, who, prio))
#define GET(what, which, who) show(what, syscall(SYS_ioprio_get, which, who))

static int run(void);

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	// In a child, which may lead a process group of its own (the
	// sandbox's first process leads its session).
	pid_t pid = fork();
	if (pid == 0)
		_exit(run());
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static int run(void) {
	if (setpgid(0, 0) < 0) {
		perror("setpgid");
		return 1;
	}
	// Whatever priority the test's runner left us.
	SET("set NONE to begin", WHO_PROCESS, 0, PRIO(NONE, 0));
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	int st;
	waitpid(gone, &st, 0);

	GET("get self", WHO_PROCESS, 0);
	GET("get own pgrp, alone", WHO_PGRP, 0);
	GET("get bad which", 4, 0);
	GET("get reaped pid", WHO_PROCESS, gone);
	SET("set BE 4", WHO_PROCESS, 0, PRIO(BE, 4));
	GET("  get self", WHO_PROCESS, 0);
	SET("set BE 7", WHO_PROCESS, 0, PRIO(BE, 7));
	GET("  get self", WHO_PROCESS, 0);
	SET("set IDLE 5", WHO_PROCESS, 0, PRIO(IDLE, 5));
	GET("  get self", WHO_PROCESS, 0);
	SET("set RT 0", WHO_PROCESS, 0, PRIO(RT, 0));
	GET("  get self", WHO_PROCESS, 0);
	SET("set NONE 0", WHO_PROCESS, 0, PRIO(NONE, 0));
	GET("  get self", WHO_PROCESS, 0);
	SET("set NONE 1", WHO_PROCESS, 0, PRIO(NONE, 1));
	SET("set class 4", WHO_PROCESS, 0, PRIO(4, 0));
	SET("set -1", WHO_PROCESS, 0, -1);
	SET("set bad which", 5, 0, PRIO(BE, 4));
	SET("set reaped pid", WHO_PROCESS, gone, PRIO(BE, 4));
	SET("set IDLE", WHO_PROCESS, 0, PRIO(IDLE, 0));
	GET("  get own pgrp, alone", WHO_PGRP, 0);
	SET("set own pgrp BE 3", WHO_PGRP, 0, PRIO(BE, 3));
	GET("  get self", WHO_PROCESS, 0);
	GET("  get own pgrp", WHO_PGRP, getpgrp());

	// A child inherits its parent's priority; a group of two reports
	// the higher of theirs, one with none counting as BE 4.
	SET("set BE 1", WHO_PROCESS, 0, PRIO(BE, 1));
	pid_t child = fork();
	if (child == 0) {
		GET("child: get self", WHO_PROCESS, 0);
		pause();
		_exit(0);
	}
	usleep(100000);
	GET("get child", WHO_PROCESS, child);
	SET("set child BE 6", WHO_PROCESS, child, PRIO(BE, 6));
	GET("  get child", WHO_PROCESS, child);
	GET("  get pgrp of two", WHO_PGRP, 0);
	SET("set self NONE", WHO_PROCESS, 0, PRIO(NONE, 0));
	GET("  get pgrp of two", WHO_PGRP, 0);
	SET("set child IDLE", WHO_PROCESS, child, PRIO(IDLE, 0));
	GET("  get pgrp of two", WHO_PGRP, 0);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);

	// Another user: its own threads, not others'; no RT.
	child = fork();
	if (child == 0) {
		if (setresuid(USER, USER, USER) < 0) {
			perror("setresuid");
			_exit(1);
		}
		GET("user: get own user", WHO_USER, USER);
		SET("user: set own user BE 2", WHO_USER, USER, PRIO(BE, 2));
		GET("user:   get self", WHO_PROCESS, 0);
		GET("user:   get own user", WHO_USER, USER);
		SET("user: set parent", WHO_PROCESS, getppid(), PRIO(BE, 4));
		SET("user: set RT", WHO_PROCESS, 0, PRIO(RT, 1));
		SET("user: set RT bad level", WHO_PROCESS, 0, PRIO(NONE, 3));
		GET("user: get parent", WHO_PROCESS, getppid());
		GET("user: get a user with none", WHO_USER, USER + 1);
		SET("user: set a user with none", WHO_USER, USER + 1, PRIO(BE, 2));
		_exit(0);
	}
	waitpid(child, &st, 0);
	return 0;
}
