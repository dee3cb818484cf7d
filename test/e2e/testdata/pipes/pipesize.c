/* splice, tee and write into pipes whose size F_SETPIPE_SZ changed: each
 * fills the pipe up to its own size, not the default 64 KiB. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 20];

static void mkpipe(int p[2], int size) {
	if (pipe2(p, O_NONBLOCK) < 0) {
		perror("pipe2");
		exit(1);
	}
	if (size && fcntl(p[1], F_SETPIPE_SZ, size) < 0) {
		perror("F_SETPIPE_SZ");
		exit(1);
	}
}

static void report(const char *what, long n) {
	if (n < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, n);
}

/* fill writes into p until it is full and returns the bytes written. */
static long fill(int fd) {
	long total = 0;
	for (;;) {
		ssize_t n = write(fd, buf, 4096);
		if (n <= 0)
			return total;
		total += n;
	}
}

int main(void) {
	static const int sizes[] = {4096, 16384, 65536, 262144};
	memset(buf, 'x', sizeof(buf));
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int src[2], dst[2];
		char what[64];
		int size = sizes[i];

		/* pipe to pipe: the source holds more than the destination's size. */
		mkpipe(src, 1 << 20);
		mkpipe(dst, size);
		report("source filled", fill(src[1]));
		snprintf(what, sizeof(what), "splice into %d", size);
		long moved = 0;
		for (;;) {
			ssize_t n = splice(src[0], NULL, dst[1], NULL, 1 << 20, SPLICE_F_NONBLOCK);
			if (n <= 0) {
				if (n < 0 && errno != EAGAIN)
					report(what, n);
				break;
			}
			moved += n;
		}
		report(what, moved);
		printf("F_GETPIPE_SZ %d: %d\n", size, fcntl(dst[0], F_GETPIPE_SZ));
		snprintf(what, sizeof(what), "write into full %d", size);
		report(what, write(dst[1], buf, 1));

		/* tee into an empty pipe of the same size. */
		int dup2p[2];
		mkpipe(dup2p, size);
		snprintf(what, sizeof(what), "tee into %d", size);
		long teed = 0;
		for (;;) {
			ssize_t n = tee(dst[0], dup2p[1], 1 << 20, SPLICE_F_NONBLOCK);
			if (n <= 0)
				break;
			teed += n;
		}
		report(what, teed);

		/* a file into the pipe, drained first. */
		while (read(dst[0], buf, sizeof(buf)) > 0)
			;
		memset(buf, 'x', sizeof(buf));
		char path[] = "/tmp/pipesizeXXXXXX";
		int fd = mkstemp(path);
		if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) || lseek(fd, 0, SEEK_SET) < 0) {
			perror("temp file");
			return 1;
		}
		unlink(path);
		snprintf(what, sizeof(what), "file into %d", size);
		moved = 0;
		for (;;) {
			ssize_t n = splice(fd, NULL, dst[1], NULL, 1 << 20, SPLICE_F_NONBLOCK);
			if (n <= 0)
				break;
			moved += n;
		}
		report(what, moved);
		close(fd);
		close(src[0]), close(src[1]), close(dst[0]), close(dst[1]);
		close(dup2p[0]), close(dup2p[1]);
	}
	return 0;
}
