// vmsplice(2) on both ends of a pipe, its non-blocking mode and its
// errors in Linux's order. Output is compared with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static void result(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	int p[2];
	if (pipe(p) != 0)
		return 1;

	// Into a pipe: two iovecs, read back with read(2).
	char a[] = "hello, ", b[] = "vmsplice";
	struct iovec two[2] = {{a, strlen(a)}, {b, strlen(b)}};
	result("to pipe", vmsplice(p[1], two, 2, 0));
	char got[64] = {0};
	result("read back", read(p[0], got, sizeof(got) - 1));
	printf("bytes: %s\n", got);

	// Out of a pipe into two iovecs.
	write(p[1], "0123456789", 10);
	char x[4] = {0}, y[16] = {0};
	struct iovec out[2] = {{x, 3}, {y, 15}};
	result("to user", vmsplice(p[0], out, 2, 0));
	printf("split: %.3s|%s\n", x, y);

	// More than the pipe holds: what fits (a page-aligned buffer), then
	// SPLICE_F_NONBLOCK on the full pipe.
	size_t big = 1 << 17;
	char *buf = aligned_alloc(4096, big);
	for (size_t i = 0; i < big; i++)
		buf[i] = (char)i;
	struct iovec bigv = {buf, big};
	long n = vmsplice(p[1], &bigv, 1, 0);
	result("128 KiB into an empty pipe", n);
	result("full pipe, SPLICE_F_NONBLOCK", vmsplice(p[1], &bigv, 1, SPLICE_F_NONBLOCK));
	char *back = malloc(big);
	long total = 0, r;
	while (total < n && (r = read(p[0], back + total, n - total)) > 0)
		total += r;
	printf("read back %ld, same: %s\n", total, memcmp(buf, back, n) == 0 ? "yes" : "no");

	// An empty pipe's read end: EAGAIN without waiting; 0 once no writer
	// is left.
	result("empty, SPLICE_F_NONBLOCK", vmsplice(p[0], out, 2, SPLICE_F_NONBLOCK));
	int q[2];
	pipe(q);
	close(q[1]);
	result("no writer", vmsplice(q[0], out, 2, 0));
	close(q[0]);
	pipe(q);
	close(q[0]);
	result("no reader", vmsplice(q[1], two, 2, 0));
	close(q[1]);

	// A pipe that vmsplice or splice filled takes no more: a
	// non-blocking write after it is EAGAIN. (How many bytes fill it
	// differs: Linux counts page slots, the sandbox bytes.)
	int f[2];
	pipe(f);
	fcntl(f[1], F_SETFL, O_NONBLOCK);
	result("write before vmsplice", write(f[1], "x", 1));
	struct iovec page = {buf, 4096};
	while (vmsplice(f[1], &page, 1, SPLICE_F_NONBLOCK) > 0)
		;
	result("vmsplice until full", -1);
	result("write after vmsplice", write(f[1], "y", 1));
	close(f[0]);
	close(f[1]);
	pipe(f);
	fcntl(f[1], F_SETFL, O_NONBLOCK);
	int src = open("/proc/self/exe", O_RDONLY);
	result("write before splice", write(f[1], "x", 1));
	while (splice(src, NULL, f[1], NULL, 4096, SPLICE_F_NONBLOCK) > 0)
		;
	result("splice until full", -1);
	result("write after splice", write(f[1], "y", 1));
	close(src);
	close(f[0]);
	close(f[1]);

	// Errors, in Linux's order.
	int file = open("/proc/self/exe", O_RDONLY);
	int path = open("/", O_PATH);
	result("bad flags", vmsplice(p[1], two, 2, 0x100));
	result("closed fd", vmsplice(1000, two, 2, 0));
	result("O_PATH fd", vmsplice(path, two, 2, 0));
	result("too many iovecs", vmsplice(p[1], two, IOV_MAX + 1, 0));
	result("bad iovec array", vmsplice(p[1], (struct iovec *)8, 1, 0));
	result("not a pipe", vmsplice(file, two, 2, 0));
	struct iovec none = {a, 0};
	result("no bytes, not a pipe", vmsplice(file, &none, 1, 0));
	result("no iovecs", vmsplice(p[1], two, 0, 0));
	return 0;
}
