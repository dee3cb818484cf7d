/* closes: close(2)'s results and what later calls see after it: the
   lowest free fd is reused at once, a second close and a close of a
   never-opened fd fail with EBADF, dup2 onto a closed fd, a pipe's
   reader sees EOF once the last writer closed, a child forked after a
   close does not have the fd, closes of many fds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int a = open("closes.tmp", O_CREAT | O_RDWR | O_TRUNC, 0644);
	int b = open("closes.tmp", O_RDONLY);
	printf("open: %d %d\n", a, b);
	printf("close a: %d\n", close(a));
	int c = open("closes.tmp", O_RDONLY);
	printf("reopen takes the freed fd: %d\n", c == a);
	printf("close a again: %d\n", close(c));
	errno = 0;
	int rc = close(c);
	printf("close closed: %d %s\n", rc, strerror(errno));
	errno = 0;
	rc = close(999);
	printf("close 999: %d %s\n", rc, strerror(errno));
	printf("dup2 onto closed: %d\n", dup2(b, a) == a);
	printf("close dup: %d, close b: %d\n", close(a), close(b));

	int p[2];
	if (pipe(p) != 0) return 1;
	pid_t r = fork();
	if (r == 0) {
		char buf[8];
		close(p[1]);
		ssize_t n = read(p[0], buf, sizeof buf);
		ssize_t m = read(p[0], buf, sizeof buf);
		printf("reader: %zd then EOF %zd\n", n, m);
		_exit(0);
	}
	if (write(p[1], "abc", 3) != 3) return 1;
	printf("close writer: %d, close reader: %d\n", close(p[1]), close(p[0]));
	int st;
	waitpid(r, &st, 0);

	int d = open("closes.tmp", O_RDONLY);
	close(d);
	pid_t k = fork();
	if (k == 0) {
		errno = 0;
		int rc = fcntl(d, F_GETFD);
		printf("child after close: %d %s\n", rc, strerror(errno));
		_exit(0);
	}
	waitpid(k, &st, 0);

	int ok = 0, bad = 0;
	for (int i = 0; i < 100; i++) {
		int f = open("closes.tmp", O_RDONLY);
		if (f >= 0 && close(f) == 0) ok++;
	}
	for (int fd = 500; fd < 797; fd++) /* above what a test harness leaves open */
		if (close(fd) != 0 && errno == EBADF) bad++;
	printf("open+close x100: %d ok; closes of 297 unopened fds: %d EBADF\n", ok, bad);
	int last = open("closes.tmp", O_RDONLY);
	printf("lowest fd after all: %d\n", last);
	unlink("closes.tmp");
	return 0;
}
