// RLIMIT_FSIZE: truncate, ftruncate and writes beyond it fail with EFBIG
// and raise SIGXFSZ, a write across it is cut short, a fork inherits it
// (LTP truncate03, ftruncate04's limit, write's EFBIG).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static sigset_t xfsz;

static void show(const char *what, long r) {
	struct timespec zero = {0, 0};
	int sig = sigtimedwait(&xfsz, NULL, &zero);
	if (r < 0)
		printf("%s: %s%s\n", what, strerrorname_np(errno), sig == SIGXFSZ ? " +SIGXFSZ" : "");
	else
		printf("%s: %ld%s\n", what, r, sig == SIGXFSZ ? " +SIGXFSZ" : "");
}

int main(int argc, char **argv) {
	if (argc != 2 || chdir(argv[1])) {
		perror("usage: fsize DIR");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	sigemptyset(&xfsz);
	sigaddset(&xfsz, SIGXFSZ);
	sigprocmask(SIG_BLOCK, &xfsz, NULL);
	int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
	struct rlimit rl = {4096, RLIM_INFINITY};
	show("setrlimit", setrlimit(RLIMIT_FSIZE, &rl));
	static char buf[8192];
	memset(buf, 'x', sizeof(buf));
	show("truncate beyond", truncate("f", 8192));
	show("ftruncate beyond", ftruncate(fd, 4097));
	show("ftruncate to the limit", ftruncate(fd, 4096));
	show("ftruncate to 0", ftruncate(fd, 0));
	show("write across", write(fd, buf, 5000));
	show("write at the limit", write(fd, buf, 10));
	show("empty write at the limit", write(fd, buf, 0));
	show("pwrite across", pwrite(fd, buf, 100, 4000));
	show("pwrite beyond", pwrite(fd, buf, 100, 6000));
	int ap = open("f", O_WRONLY | O_APPEND);
	show("append at the limit", write(ap, buf, 1));
	close(ap);
	pid_t c = fork();
	if (c == 0) {
		show("child truncate beyond", truncate("f", 8192));
		exit(0);
	}
	waitpid(c, NULL, 0);
	c = fork();
	if (c == 0) {
		sigprocmask(SIG_UNBLOCK, &xfsz, NULL);
		write(fd, buf, 1); // at the limit: SIGXFSZ's default action
		exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("child writing at the limit unblocked: %s %d\n", WIFSIGNALED(st) ? "killed by" : "exited", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	rl.rlim_cur = RLIM_INFINITY;
	show("raise the limit", setrlimit(RLIMIT_FSIZE, &rl));
	show("truncate beyond the old limit", truncate("f", 8192));
	struct stat sb;
	fstat(fd, &sb);
	printf("size %ld\n", (long)sb.st_size);
	return 0;
}
