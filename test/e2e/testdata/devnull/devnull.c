/* devnull: reads and writes of /dev/null, through its own fds and through
   stdout and stdin redirected to it, with the results Linux gives: a
   write's count (clamped to MAX_RW_COUNT, the buffer never read), a
   read's 0, EBADF for the wrong direction, EFAULT for a range past the
   user address space. Prints each result on a copy of the first stdout. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char buf[4096];
static int out;

static void show(const char *what, long r) {
	if (r < 0)
		dprintf(out, "%s: -1 %s\n", what, strerror(errno));
	else
		dprintf(out, "%s: %ld\n", what, r);
}

int main(void) {
	int w = open("/dev/null", O_WRONLY);
	int r = open("/dev/null", O_RDONLY);
	int rw = open("/dev/null", O_RDWR);
	if (w < 0 || r < 0 || rw < 0) {
		perror("open /dev/null");
		return 1;
	}
	out = dup(1); /* fd 6: after the three of /dev/null */
	long total = 0;
	for (int i = 0; i < 1000; i++) {
		long n = write(w, "hello, null\n", 12);
		if (n != 12) {
			show("write in the loop", n);
			return 1;
		}
		total += n;
	}
	show("1000 writes", total);
	show("write of unmapped memory", write(w, (void *)0x1000, 10));
	/* Linux reads none of it: the count is what the call checks. */
	show("write of 2 GiB", write(w, (void *)0x10000, 0x80000000UL));
	show("write of a kernel address", write(w, (void *)-4096L, 10));
	show("write of 0 bytes", write(w, buf, 0));
	show("write to a read-only fd", write(r, buf, 10));
	show("read of a write-only fd", read(w, buf, 10));
	show("read", read(r, buf, sizeof buf));
	show("read of an O_RDWR fd", read(rw, buf, sizeof buf));
	show("write to an O_RDWR fd", write(rw, buf, 100));
	show("read into unmapped memory", read(r, (void *)0x1000, 10));

	/* stdout and stdin redirected to /dev/null, as a shell's
	   >/dev/null </dev/null leaves them. */
	dup2(w, 1);
	dup2(r, 0);
	for (int i = 0; i < 100; i++)
		printf("line %d of output nobody reads\n", i), fflush(stdout);
	show("stdin read", read(0, buf, sizeof buf));
	show("stdout write", write(1, "x", 1));
	close(w);
	show("write to a closed fd", write(w, buf, 1));
	return 0;
}
