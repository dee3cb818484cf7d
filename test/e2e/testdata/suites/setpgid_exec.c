// setpgid of a child: allowed until the child execs, EACCES after (LTP
// setpgid03).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %ld\n", what, r);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int go[2], p[2];
	pipe(go);
	pipe2(p, O_CLOEXEC);
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(p[0]);
		read(go[0], &b, 1); // wait for the parent's first setpgid
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	show("setpgid before exec", setpgid(c, c));
	write(go[1], "x", 1);
	close(p[1]);
	// The child's copy of p[1] closes on exec: then read sees EOF.
	char b;
	while (read(p[0], &b, 1) > 0)
		;
	show("setpgid after exec", setpgid(c, 0));
	kill(c, SIGKILL);
	int st;
	waitpid(c, &st, 0);
	printf("child killed by %d\n", WTERMSIG(st));
	return 0;
}
