// txtbsy: a file a process of the sandbox runs may not be opened for
// writing or truncated (ETXTBSY, LTP creat07), whatever the open's other
// flags; reading it may; a script's process runs its interpreter, so the
// script itself may be written; once the process is reaped, the file may
// be written again. The program runs copies of itself (./prog, and
// ./script whose interpreter is ./prog).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

static void try_open(const char *path, const char *label, int flags) {
	int fd = open(path, flags, 0755);
	printf("  %s %s: %s\n", label, path, fd < 0 ? strerror(errno) : "ok");
	if (fd >= 0)
		close(fd);
}

static void try_all(const char *path) {
	try_open(path, "O_RDONLY", O_RDONLY);
	try_open(path, "O_WRONLY", O_WRONLY);
	try_open(path, "O_RDWR|O_CREAT", O_RDWR | O_CREAT);
	try_open(path, "O_RDONLY|O_TRUNC", O_RDONLY | O_TRUNC);
	int fd = creat(path, 0755);
	printf("  creat %s: %s\n", path, fd < 0 ? strerror(errno) : "ok");
	if (fd >= 0)
		close(fd);
	printf("  truncate %s: %s\n", path, truncate(path, 1 << 20) != 0 ? strerror(errno) : "ok");
}

// run starts path (with argument "child" and the pipe's write end) and
// waits until it runs.
static pid_t run(const char *path) {
	int p[2];
	if (pipe(p) != 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(p[0]);
		char fd[16];
		snprintf(fd, sizeof fd, "%d", p[1]);
		execl(path, path, "child", fd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char c;
	if (read(p[0], &c, 1) != 1)
		die("child did not start");
	close(p[0]);
	return pid;
}

static void reap(pid_t pid) {
	kill(pid, SIGKILL);
	if (waitpid(pid, NULL, 0) != pid)
		die("waitpid");
}

int main(int argc, char **argv) {
	// As ./prog: "child FD", or, run by ./script, "./script child FD".
	if (argc >= 3 && strcmp(argv[argc - 2], "child") == 0) {
		if (write(atoi(argv[argc - 1]), "r", 1) != 1)
			return 1;
		pause();
		return 0;
	}
	int in = open("/proc/self/exe", O_RDONLY), out = open("prog", O_CREAT | O_WRONLY | O_TRUNC, 0755);
	if (in < 0 || out < 0)
		die("copy self");
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, n) != n)
			die("copy");
	close(in);
	close(out);
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		die("getcwd");
	FILE *script = fopen("script", "w");
	if (!script)
		die("script");
	fprintf(script, "#!%s/prog\n", cwd);
	fclose(script);
	if (chmod("script", 0755) != 0)
		die("chmod script");

	puts("prog running:");
	pid_t pid = run("./prog");
	try_all("prog");
	reap(pid);
	puts("prog reaped:");
	try_open("prog", "O_WRONLY", O_WRONLY);

	puts("script running:");
	pid = run("./script");
	try_open("script", "O_WRONLY", O_WRONLY);
	try_open("prog", "O_WRONLY", O_WRONLY);
	reap(pid);
	return 0;
}
