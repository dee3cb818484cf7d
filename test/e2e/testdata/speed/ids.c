/* ids: the process ids a process reads about itself (getppid, getpgrp,
   getpgid, getsid, getuid...) after the changes the kernel makes to
   them: fork, setpgid by the parent and by itself, setsid, exec, the
   parent's exit (reparenting to the subreaper: the sandbox's init, or
   this program natively, via PR_SET_CHILD_SUBREAPER), setgid/setuid.
   Pids differ from a native run, so it prints how the ids relate. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void check(const char *what, int ok) { printf("%s: %s\n", what, ok ? "ok" : "WRONG"); fflush(stdout); }

int main(int argc, char **argv) {
	if (argc == 3 && !strcmp(argv[1], "execed")) {
		/* After exec: the ids are the same as before it. */
		pid_t pgid = atoi(argv[2]);
		check("exec keeps ppid, pgrp, sid", getpgrp() == pgid && getsid(0) == pgid && getppid() > 0);
		return 0;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* natively; the sandbox's init is the subreaper */
	pid_t top = getpid();
	setvbuf(stdout, NULL, _IONBF, 0);

	/* A child's ids right after fork. */
	int go[2], ready[2];
	if (pipe(go) != 0 || pipe(ready) != 0) return 1;
	pid_t c = fork();
	if (c == 0) {
		check("child: ppid is the parent", getppid() == top);
		check("child: pgrp and sid inherited", getpgrp() == getpgid(top) && getsid(0) == getsid(top));
		char b;
		close(go[1]);
		if (write(ready[1], "r", 1) != 1) _exit(1);
		if (read(go[0], &b, 1) != 1) _exit(1);
		/* The parent moved this child to a group of its own meanwhile. */
		check("child: pgrp after the parent's setpgid", getpgrp() == getpid() && getpgid(0) == getpid());
		/* A session of its own. */
		if (setpgid(0, top) == 0) setpgid(0, 0);
		pid_t s = fork();
		if (s == 0) {
			check("setsid", setsid() == getpid());
			check("after setsid: sid, pgrp", getsid(0) == getpid() && getpgrp() == getpid() && getpgid(getpid()) == getpid());
			char pg[16];
			snprintf(pg, sizeof pg, "%d", getpgrp());
			execl("/proc/self/exe", argv[0], "execed", pg, (char *)NULL);
			_exit(2);
		}
		int st;
		waitpid(s, &st, 0);
		check("exec'd child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
		_exit(0);
	}
	close(go[0]);
	char r;
	if (read(ready[0], &r, 1) != 1) return 1;
	check("setpgid of the child", setpgid(c, c) == 0);
	if (write(go[1], "x", 1) != 1) return 1;
	int st;
	waitpid(c, &st, 0);
	check("child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* Reparenting: a middle process forks a grandchild and exits. */
	int rep[2];
	if (pipe(rep) != 0) return 1;
	pid_t mid = fork();
	if (mid == 0) {
		pid_t g = fork();
		if (g == 0) {
			close(rep[0]);
			pid_t was = getppid();
			int waited = 0;
			while (getppid() == was && waited < 10000) { sleep_ms(1); waited++; }
			char ok = getppid() == top ? 'y' : 'n';
			if (write(rep[1], &ok, 1) != 1) _exit(1);
			_exit(0);
		}
		_exit(0);
	}
	close(rep[1]);
	waitpid(mid, &st, 0);
	char ok = 0;
	if (read(rep[0], &ok, 1) != 1) ok = 0;
	check("grandchild reparented to the subreaper", ok == 'y');
	while (wait(&st) > 0) {}

	/* Credentials: set*id as root, then the getuid family. */
	if (getuid() == 0) {
		pid_t u = fork();
		if (u == 0) {
			check("setgid", setgid(1234) == 0 && getgid() == 1234 && getegid() == 1234);
			check("setresuid", setresuid(1000, 1001, 1002) == 0 && getuid() == 1000 && geteuid() == 1001);
			check("setuid back refused", setuid(0) != 0 && getuid() == 1000);
			_exit(0);
		}
		waitpid(u, &st, 0);
		check("set*id child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	return 0;
}
