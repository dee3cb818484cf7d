// Pipe sizes: F_GETPIPE_SZ, F_SETPIPE_SZ (rounding, EBUSY, EINVAL, EPERM
// above fs/pipe-max-size for an unprivileged user), a writable
// /proc/sys/fs/pipe-max-size capping new pipes of unprivileged users (LTP
// fcntl35), and a smaller pipe holding less.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %ld\n", what, r);
}

static long readmax(void) {
	long v = -1;
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int writemax(long v) {
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "w");
	if (!f)
		return -1;
	fprintf(f, "%ld\n", v);
	return fclose(f);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int p[2];
	pipe(p);
	show("default size", fcntl(p[1], F_GETPIPE_SZ));
	show("set 0", fcntl(p[1], F_SETPIPE_SZ, 0));
	show("set 5000", fcntl(p[0], F_SETPIPE_SZ, 5000));
	show("get on the other end", fcntl(p[1], F_GETPIPE_SZ));
	static char buf[1 << 16];
	show("write 5000", write(p[1], buf, 5000));
	show("shrink below the data", fcntl(p[1], F_SETPIPE_SZ, 4096));
	show("set -1", fcntl(p[1], F_SETPIPE_SZ, -1));
	show("set 1 MiB", fcntl(p[1], F_SETPIPE_SZ, 1 << 20));
	close(p[0]);
	close(p[1]);
	pipe2(p, O_NONBLOCK);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	show("nonblocking write of 8192 into 4096", write(p[1], buf, 8192));
	close(p[0]);
	close(p[1]);
	int null = open("/dev/null", O_RDONLY);
	show("getpipe on a file", fcntl(null, F_GETPIPE_SZ) < 0 && errno == EBADF ? 1 : 0);

	long old = readmax();
	show("pipe-max-size write 5000", writemax(5000));
	printf("pipe-max-size now %ld\n", readmax());
	show("pipe-max-size write junk", writemax(-5));
	writemax(4096);
	pid_t c = fork();
	if (c == 0) {
		setuid(65534);
		pipe(p);
		show("unprivileged: new pipe", fcntl(p[1], F_GETPIPE_SZ));
		show("unprivileged: set 8192", fcntl(p[1], F_SETPIPE_SZ, 8192));
		show("unprivileged: write pipe-max-size", writemax(8192));
		exit(0);
	}
	waitpid(c, NULL, 0);
	// (What root may do above the maximum depends on CAP_SYS_RESOURCE,
	// which a root in a container may lack: not compared.)
	writemax(old);
	printf("pipe-max-size restored: %d\n", readmax() == old);
	return 0;
}
