/* Forks children that wait, until fork fails; prints how many it made and
 * the errno. With argv[1] = N and argv[2] = UID it first becomes UID and
 * sets RLIMIT_NPROC to N. The children are killed before it exits. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc == 3) {
		struct rlimit rl = {atoi(argv[1]), atoi(argv[1])};
		if (setrlimit(RLIMIT_NPROC, &rl) != 0) { perror("setrlimit"); return 1; }
		uid_t u = atoi(argv[2]);
		if (setresgid(u, u, u) != 0 || setresuid(u, u, u) != 0) { perror("setresuid"); return 1; }
	}
	int pfd[2];
	if (pipe(pfd) != 0) { perror("pipe"); return 1; }
	int n = 0, err = 0;
	for (n = 0; n < 5000; n++) {
		pid_t p = fork();
		if (p < 0) { err = errno; break; }
		if (p == 0) {
			char c;
			close(pfd[1]);
			read(pfd[0], &c, 1); /* until the parent closes the pipe */
			_exit(0);
		}
	}
	close(pfd[1]);
	while (wait(NULL) > 0) {}
	printf("forks=%d errno=%s\n", n, err ? strerror(err) : "none");
	return 0;
}
