// handoff: one thread opens a file and hands the fd to another, which
// toggles O_NONBLOCK (as Go's os.Open does) and reads it to the end in
// 1 KiB reads; the first thread closes it and opens the next. The fd
// number is the same each round. A Go program's goroutine moves between
// threads this way. Prints each round's byte count and checksum.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int handed = -1; // the fd handed to the reader; -2: stop
static long got;        // bytes the reader read, -1 after a failure
static unsigned long sum;
static int done;

static void *reader(void *arg) {
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&mu);
		while (handed == -1)
			pthread_cond_wait(&cv, &mu);
		int fd = handed;
		pthread_mutex_unlock(&mu);
		if (fd == -2)
			return NULL;
		long total = 0;
		unsigned long s = 0;
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFL, fl) != 0) {
			total = -1;
		} else {
			char buf[1024];
			ssize_t n;
			while ((n = read(fd, buf, sizeof buf)) > 0) {
				for (ssize_t i = 0; i < n; i++)
					s = s * 31 + (unsigned char)buf[i];
				total += n;
			}
			if (n < 0)
				total = -1;
		}
		pthread_mutex_lock(&mu);
		sum = s;
		got = total;
		handed = -1;
		done = 1;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: handoff ROUNDS FILE...\n");
		return 2;
	}
	int rounds = atoi(argv[1]);
	pthread_t th;
	if (pthread_create(&th, NULL, reader, NULL) != 0) {
		perror("pthread_create");
		return 1;
	}
	for (int r = 0; r < rounds; r++) {
		const char *name = argv[2 + r % (argc - 2)];
		int fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(name);
			return 1;
		}
		pthread_mutex_lock(&mu);
		handed = fd;
		done = 0;
		pthread_cond_broadcast(&cv);
		while (!done)
			pthread_cond_wait(&cv, &mu);
		printf("round %d fd %d %s: %ld bytes, sum %lx\n", r, fd, name, got, sum);
		pthread_mutex_unlock(&mu);
		close(fd);
	}
	pthread_mutex_lock(&mu);
	handed = -2;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return pthread_join(th, NULL) != 0;
}
