/* stdio: writes to stdout and stderr, which are no terminal: write(2)
   and writev(2) in loops, from a forked child between the parent's, and
   the calls Linux fails (a buffer past the user address space, pwrite to
   a stream, a write to a read-only dup of stdin). Output and results are
   compared byte for byte with a native run. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
	char line[128];
	int n;
	if (r < 0)
		n = snprintf(line, sizeof line, "%s: -1 %s\n", what, strerror(errno));
	else
		n = snprintf(line, sizeof line, "%s: %ld\n", what, r);
	if (write(1, line, n) != n)
		_exit(2);
}

int main(void) {
	char line[64];
	for (int i = 0; i < 300; i++) {
		int n = snprintf(line, sizeof line, "out %d\n", i);
		if (write(1, line, n) != n)
			return 1;
		if (i % 10 == 0) {
			n = snprintf(line, sizeof line, "err %d\n", i);
			if (write(2, line, n) != n)
				return 1;
		}
	}
	for (int i = 0; i < 100; i++) {
		char a[32], b[32];
		struct iovec iov[3] = {{a, snprintf(a, sizeof a, "vec %d", i)}, {" and ", 5}, {b, snprintf(b, sizeof b, "%d\n", -i)}};
		long want = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
		if (writev(1, iov, 3) != want)
			return 1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 50; i++) {
			int n = snprintf(line, sizeof line, "child %d\n", i);
			if (write(1, line, n) != n)
				_exit(1);
		}
		_exit(0);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
		return 1;
	show("after the child", write(1, "parent again\n", 13));
	show("write of a kernel address", write(1, (void *)-4096L, 10));
	show("write of 0 bytes", write(1, line, 0));
	show("pwrite to stdout", pwrite(1, "x\n", 2, 0));
	int in = dup(0);
	show("write to stdin", write(in, "x\n", 2));
	show("stdout at the end", write(1, "the end\n", 8));
	return 0;
}
