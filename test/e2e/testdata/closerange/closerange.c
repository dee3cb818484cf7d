// closerange: close_range(2) against what the sandbox's client keeps of
// each fd (its copy of the fd table, writes behind, a pipe's reader, the
// next fd a posted open takes), run natively and in the sandbox: the
// output must be the same. With the argument "exec" it is the image
// exec'd after CLOSE_RANGE_CLOEXEC and shows which fds survived.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static long cr(unsigned first, unsigned last, unsigned flags) {
	return syscall(SYS_close_range, first, last, flags);
}

// show prints the state of the fds a test uses: closed, open, or open
// with close-on-exec.
static void show(const char *what) {
	static const int fds[] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 100, 1000};
	printf("%s:", what);
	for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		int fl = fcntl(fds[i], F_GETFD);
		if (fl < 0 && errno != EBADF)
			printf(" %d:%s", fds[i], strerror(errno));
		else if (fl >= 0)
			printf(" %d%s", fds[i], fl & FD_CLOEXEC ? "e" : "");
	}
	printf("\n");
}

static void result(const char *what, long r) {
	printf("%s = %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
}

// shared runs f in a child sharing the fd table (clone CLONE_FILES
// without CLONE_VM: a fork whose fds are the parent's) and waits for it.
static void shared(void (*f)(void)) {
	fflush(stdout);
	long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		perror("clone");
		exit(1);
	}
	if (pid == 0) {
		f();
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
}

static void child_unshare(void) {
	result("child: close_range(3, 3, UNSHARE)", cr(3, 3, CLOSE_RANGE_UNSHARE));
	show("child after unshare");
	// A new fd of the child's own table is not the parent's.
	result("child: dup2(4, 11)", dup2(4, 11));
}

static void child_shared(void) {
	result("child: close_range(100, 100, 0)", cr(100, 100, 0));
}

static void child_cloexec_unshare(void) {
	result("child: close_range(3, ~0U, CLOEXEC|UNSHARE)", cr(3, ~0U, CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE));
	show("child after cloexec and unshare");
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "exec") == 0) {
		show("after exec");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	char buf[64];

	// Writes behind before the range's close reach the file.
	int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
	result("write", write(fd, "hello\n", 6));
	result("dup2(fd, 10)", dup2(fd, 10));
	result("dup2(fd, 100)", dup2(fd, 100));
	int p[2];
	result("pipe", pipe(p));
	show("before");
	result("close_range(4, 10, 0)", cr(4, 10, 0));
	show("after close_range(4, 10, 0)");
	// The next open takes the lowest fd the range freed.
	int g = open("f", O_RDONLY);
	printf("open after the range: fd %d\n", g);
	long n = read(g, buf, sizeof buf);
	printf("read %ld: %.*s", n, (int)(n > 0 ? n : 0), buf);

	// The last reader of a pipe closed in a range: a write fails EPIPE.
	result("pipe", pipe(p));
	printf("pipe fds %d %d\n", p[0], p[1]);
	result("close_range(read end)", cr(p[0], p[0], 0));
	result("write to the pipe", write(p[1], "x", 1));

	// The errors.
	result("close_range(4, 3, 0)", cr(4, 3, 0));
	result("close_range(3, ~0U, 8)", cr(3, ~0U, 8));
	result("close_range(3, ~0U, ~0U)", cr(3, ~0U, ~0U));
	result("close_range(~0U, ~0U, 0)", cr(~0U, ~0U, 0));
	result("close_range(1001, ~0U, 0)", cr(1001, ~0U, 0));
	show("after the errors");

	// A shared table: a close in the child is the parent's, one after
	// CLOSE_RANGE_UNSHARE is not.
	shared(child_unshare);
	show("parent after the child's unshare");
	shared(child_shared);
	show("parent after the child's close");
	shared(child_cloexec_unshare);
	show("parent after the child's cloexec and unshare");

	// The close-on-exec flag on a range, one fd cleared again, then exec.
	result("close_range(3, ~0U, CLOEXEC)", cr(3, ~0U, CLOSE_RANGE_CLOEXEC));
	show("after cloexec");
	result("fcntl(4, F_SETFD, 0)", fcntl(4, F_SETFD, 0));
	show("after F_SETFD");
	fflush(stdout);
	execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
	perror("exec");
	return 1;
}
