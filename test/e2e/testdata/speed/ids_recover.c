/* ids_recover: ids a process reads about itself stay true across the
   remote sentry's death. A child makes a session of its own, then the
   program prints "ready" and waits for a line on stdin (the test kills
   and restarts the server meanwhile); then each process checks its ids
   (answered on the client) against the server's (forwarded: another
   process's pgid), and a new grandchild's ids come from the new server. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int bad;
static void check(const char *what, int ok) {
	printf("%s: %s\n", what, ok ? "ok" : "WRONG");
	fflush(stdout);
	bad |= !ok;
}

int main(void) {
	int ready[2], go[2];
	if (pipe(ready) != 0 || pipe(go) != 0) return 1;
	pid_t top = getpid();
	pid_t c = fork();
	if (c == 0) {
		setsid();
		if (write(ready[1], "r", 1) != 1) _exit(1);
		char b;
		if (read(go[0], &b, 1) != 1) _exit(1);
		check("child after recovery: ppid, sid, pgrp", getppid() == top && getsid(0) == getpid() && getpgrp() == getpid());
		pid_t g = fork();
		if (g == 0) {
			check("grandchild: ppid, pgrp, sid", getppid() == getpgid(getppid()) && getpgrp() == getppid() && getsid(0) == getppid());
			setpgid(0, 0);
			check("grandchild: own group", getpgrp() == getpid() && getpgid(0) == getpid());
			_exit(bad);
		}
		int st;
		waitpid(g, &st, 0);
		_exit(bad || !WIFEXITED(st) || WEXITSTATUS(st) != 0);
	}
	char r;
	if (read(ready[0], &r, 1) != 1) return 1;
	pid_t pg = getpgrp(), sid = getsid(0), pp = getppid();
	printf("ready\n");
	fflush(stdout);
	char line[16];
	if (read(0, line, sizeof line) <= 0) return 1;
	check("parent after recovery: ids unchanged", getpgrp() == pg && getsid(0) == sid && getppid() == pp);
	check("server agrees on the child's group", getpgid(c) == c && getsid(c) == c);
	if (write(go[1], "g", 1) != 1) return 1;
	int st;
	waitpid(c, &st, 0);
	check("child exited 0", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return bad;
}
