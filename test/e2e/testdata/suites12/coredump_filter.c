// coredump_filter: /proc/<pid>/coredump_filter reads the process's mask
// (0x33 at first), takes writes in C's notation (9 bits count; bad
// numbers EINVAL, too big ERANGE), is inherited by fork and kept by
// execve, is empty for a zombie, and exists per process, not per thread
// (LTP madvise08 reads it first).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, const char *path) {
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("%s: open: %s\n", what, strerror(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	printf("%s: %zd %s", what, n, n > 0 ? buf : "\n");
}

static void put(const char *s) {
	int fd = open("/proc/self/coredump_filter", O_WRONLY);
	ssize_t n = write(fd, s, strlen(s));
	printf("write %s: %zd %s\n", s, n, n < 0 ? strerror(errno) : "");
	close(fd);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1) {
		show("after exec", "/proc/self/coredump_filter");
		return 0;
	}
	show("first", "/proc/self/coredump_filter");
	put("0x7f");
	show("after 0x7f", "/proc/self/coredump_filter");
	put("0x3ff");
	show("after 0x3ff", "/proc/self/coredump_filter");
	put("017");
	put("zz");
	put("0x100000000");
	show("after bad", "/proc/self/coredump_filter");
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/coredump_filter", getpid());
	show("per thread", path);
	pid_t pid = fork();
	if (pid == 0) {
		show("child", "/proc/self/coredump_filter");
		put("0x21");
		execl("/proc/self/exe", argv[0], "x", (char *)0);
		_exit(1);
	}
	int st;
	waitpid(pid, &st, 0);
	show("parent after child", "/proc/self/coredump_filter");
	pid = fork();
	if (pid == 0)
		_exit(0);
	usleep(200000);
	snprintf(path, sizeof path, "/proc/%d/coredump_filter", pid);
	show("zombie", path);
	waitpid(pid, &st, 0);
	return 0;
}
