/* pipeahead: reads of a pipe after bytes the reader's previous read did
   not take, where a copy of those bytes may answer the next read: a read
   of more than the copy must return what the pipe holds, bytes written
   after the copy was made (by the reader's process or a child it waited
   for) and bytes past a 64 KiB copy of a bigger pipe included. Prints
   each count. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[256 << 10];

static void show(const char *what, long n) {
	printf("%s: %ld\n", what, n);
	fflush(stdout);
}

int main(void) {
	int p[2];
	memset(buf, 'a', sizeof buf);

	/* LTP pipe15's steps: fill, take all but one byte, add one, read 2. */
	if (pipe(p)) return 1;
	long sz = fcntl(p[1], F_GETPIPE_SZ);
	show("fill", write(p[1], buf, sz));
	show("take all but one", read(p[0], buf, sz - 1));
	show("add one", write(p[1], "b", 1));
	show("read 2", read(p[0], buf, 2));
	close(p[0]);
	close(p[1]);

	/* Bytes left after a read, then read in parts and past their end. */
	if (pipe(p)) return 1;
	show("write 10", write(p[1], "0123456789", 10));
	show("read 3", read(p[0], buf, 3));
	show("read 3 more", read(p[0], buf, 3));
	show("read the rest", read(p[0], buf, 100));
	show("write 4", write(p[1], "abcd", 4));
	show("read 1", read(p[0], buf, 1));
	pid_t pid = fork();
	if (pid == 0) {
		_exit(write(p[1], "efgh", 4) == 4 ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	show("child wrote 4", WEXITSTATUS(status));
	show("read 100", read(p[0], buf, 100));
	close(p[0]);
	close(p[1]);

	/* A pipe of 256 KiB holding 100 KiB: the first read's copy is at
	   most 64 KiB of the rest. */
	if (pipe(p)) return 1;
	show("set size", fcntl(p[1], F_SETPIPE_SZ, 256 << 10) >= (256 << 10));
	show("write 100 KiB", write(p[1], buf, 100 << 10));
	show("read 1", read(p[0], buf, 1));
	show("read 128 KiB", read(p[0], buf, 128 << 10));
	return 0;
}
