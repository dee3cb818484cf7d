// writethreads: threads of one process write one file: the main thread
// while another is blocked reading a pipe (write, pwrite), then while
// another is blocked in poll(2), then two threads appending lines at
// once; the file is read back and checked: every line there, each
// thread's in its order.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <poll.h>

static int p[2], q[2], r[2];
static const char *path;

static void *poller(void *arg) {
	struct pollfd pf = {.fd = q[0], .events = POLLIN};
	(void)arg;
	if (write(r[1], "r", 1) != 1)
		return (void *)1;
	return poll(&pf, 1, -1) == 1 ? NULL : (void *)1;
}

static void *reader(void *arg) {
	char c;
	(void)arg;
	return read(p[0], &c, 1) == 1 ? NULL : (void *)1;
}

static void *appender(void *arg) {
	long id = (long)arg;
	int f = open(path, O_WRONLY | O_APPEND);
	char line[32];
	for (int i = 0; i < 200; i++) {
		int n = snprintf(line, sizeof line, "T%ld %03d\n", id, i);
		if (write(f, line, n) != n)
			return (void *)1;
	}
	return close(f) == 0 ? NULL : (void *)1;
}

int main(int argc, char **argv) {
	pthread_t th, a, b;
	if (argc != 2 || pipe(p) != 0 || pipe(q) != 0 || pipe(r) != 0 || pthread_create(&th, NULL, reader, NULL) != 0) {
		perror("setup");
		return 1;
	}
	path = argv[1];
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int bad = 0;
	for (int i = 0; i < 50; i++)
		bad += write(f, "0123456789", 10) != 10;
	bad += pwrite(f, "ABCDE", 5, 3) != 5;
	bad += write(f, "end\n", 4) != 4;
	bad += close(f) != 0;
	f = open(path, O_RDONLY);
	char buf[1024];
	ssize_t n = read(f, buf, sizeof buf);
	close(f);
	printf("beside a read: %d bad, %zd bytes: %.20s...%.6s", bad, n, buf, n > 6 ? buf + n - 6 : "");
	if (write(p[1], "x", 1) != 1 || pthread_join(th, NULL) != 0) {
		perror("reader");
		return 1;
	}
	char c;
	if (pthread_create(&th, NULL, poller, NULL) != 0 || read(r[0], &c, 1) != 1) {
		perror("poller");
		return 1;
	}
	usleep(100000); // the poller is in poll(2) on the server
	f = open(path, O_WRONLY | O_TRUNC);
	for (int i = 0; i < 20; i++)
		bad += write(f, "polled\n", 7) != 7;
	close(f);
	f = open(path, O_RDONLY);
	n = read(f, buf, sizeof buf);
	close(f);
	printf("beside a poll: %d bad, %zd bytes\n", bad, n);
	if (write(q[1], "x", 1) != 1 || pthread_join(th, NULL) != 0) {
		perror("poller");
		return 1;
	}
	f = open(path, O_WRONLY | O_TRUNC);
	close(f);
	if (pthread_create(&a, NULL, appender, (void *)1) != 0 || pthread_create(&b, NULL, appender, (void *)2) != 0) {
		perror("appenders");
		return 1;
	}
	void *ra, *rb;
	pthread_join(a, &ra);
	pthread_join(b, &rb);
	FILE *in = fopen(path, "r");
	int next[3] = {0, 0, 0}, lines = 0, order = 0;
	char line[32];
	long id;
	int i;
	while (fgets(line, sizeof line, in)) {
		if (sscanf(line, "T%ld %d", &id, &i) != 2 || id < 1 || id > 2)
			continue;
		order += i != next[id];
		next[id] = i + 1;
		lines++;
	}
	fclose(in);
	printf("two appenders: %s %s, %d lines, %d out of order\n", ra ? "failed" : "ok", rb ? "failed" : "ok", lines, order);
	return 0;
}
