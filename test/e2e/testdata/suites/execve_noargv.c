// execve with an empty argv: the new program gets argc 1 and argv[0] ""
// (Linux since 5.18; LTP execve06).
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc <= 1 && (argc == 0 || strcmp(argv[0], "") == 0)) {
		printf("child: argc %d argv[0] \"%s\"\n", argc, argc ? argv[0] : "(none)");
		return 0;
	}
	char *none[] = {NULL};
	char *env[] = {"X=1", NULL};
	pid_t c = fork();
	if (c == 0) {
		execve("/proc/self/exe", none, env);
		perror("execve");
		_exit(1);
	}
	int st;
	waitpid(c, &st, 0);
	printf("exit %d\n", WEXITSTATUS(st));
	return 0;
}
