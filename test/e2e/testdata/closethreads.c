// closethreads: a process with a second thread closes the files it
// opens (and their dups): first while the other thread is blocked
// reading a pipe, then while it is blocked in poll(2); what it read and
// each close's result are printed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int p[2], q[2], r[2];

static void *reader(void *arg) {
	char c;
	(void)arg;
	return read(p[0], &c, 1) == 1 ? NULL : (void *)1;
}

static void *poller(void *arg) {
	struct pollfd pf = {.fd = q[0], .events = POLLIN};
	(void)arg;
	if (write(r[1], "r", 1) != 1)
		return (void *)1;
	return poll(&pf, 1, -1) == 1 ? NULL : (void *)1;
}

static void rounds(const char *phase, const char *path, int n) {
	char buf[16];
	int bad = 0;
	ssize_t got = 0;
	for (int i = 0; i < n; i++) {
		int f = open(path, O_RDONLY | O_CLOEXEC);
		got += read(f, buf, sizeof buf);
		int g = dup(f);
		bad += close(g) != 0;
		bad += close(f) != 0;
		bad += close(f) == 0; // closed already: EBADF
	}
	int f = open(path, O_RDONLY);
	printf("%s: read %zd, %d closes not as Linux's, next fd %d\n", phase, got, bad, f);
	close(f);
}

int main(int argc, char **argv) {
	pthread_t th;
	if (argc != 2 || pipe(p) != 0 || pipe(q) != 0 || pipe(r) != 0 || pthread_create(&th, NULL, reader, NULL) != 0) {
		perror("setup");
		return 1;
	}
	rounds("beside a read", argv[1], 20);
	if (write(p[1], "x", 1) != 1 || pthread_join(th, NULL) != 0 || pthread_create(&th, NULL, poller, NULL) != 0) {
		perror("reader");
		return 1;
	}
	char c;
	if (read(r[0], &c, 1) != 1) {
		perror("ready");
		return 1;
	}
	usleep(100000); // the poller is in poll(2) on the server
	rounds("beside a poll", argv[1], 10);
	if (write(q[1], "x", 1) != 1 || pthread_join(th, NULL) != 0) {
		perror("poller");
		return 1;
	}
	return 0;
}
