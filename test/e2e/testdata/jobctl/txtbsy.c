// execve of a file open for writing (by this process or another) is
// ETXTBSY; once every writer closed it, it runs.
#include "common.h"
#include <fcntl.h>

static void tryExec(const char *what, const char *path) {
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = {(char *)path, NULL}, *envp[] = {NULL};
		execve(path, argv, envp);
		printf("%s: %s\n", what, strerror(errno));
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) != 127) printf("%s: ran, exit %d\n", what, WEXITSTATUS(st));
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *path = "txtbsy-script";
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	const char *script = "#!/bin/busybox sh\nexit 7\n";
	write(fd, script, strlen(script));
	tryExec("open for writing", path);
	int ro = open(path, O_RDONLY);
	close(fd);
	tryExec("open for reading only", path);
	close(ro);
	// A writer in another process counts too.
	int ready[2], done[2];
	pipe(ready), pipe(done);
	pid_t writer = fork();
	if (writer == 0) {
		int w = open(path, O_RDWR);
		write(ready[1], "r", 1);
		char c;
		read(done[0], &c, 1);
		close(w);
		_exit(0);
	}
	char c;
	read(ready[0], &c, 1);
	tryExec("open for writing by another process", path);
	write(done[1], "d", 1);
	waitpid(writer, NULL, 0);
	tryExec("closed", path);
	unlink(path);
	return 0;
}
