// reopen reader DIR | writer DIR unlink|replace: the reader opens, reads
// and closes DIR/f again and again (read-only opens the sandbox posts once
// its path cache holds their answer) and, before each open, stats
// DIR/gone. The writer waits for DIR/ready (which the reader creates after
// a while), then removes f (unlink) or renames DIR/g over it (replace),
// and only then creates DIR/gone. So once the reader sees gone, its next
// open of f must fail with ENOENT, or open the new file: an open that
// still finds the old file is a change the reader's sandbox was not told
// of (a path lease not revoked).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char path[4096], gone[4096], ready[4096], other[4096];
static long raced;

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int reader(void) {
	double start = now();
	for (long i = 0;; i++) {
		if (now() - start > 120) {
			printf("reader: timed out after %ld opens\n", i);
			return 1;
		}
		struct stat st;
		int announced = stat(gone, &st) == 0;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ENOENT) {
				printf("reader: open: %s\n", strerror(errno));
				return 1;
			}
			if (announced) {
				printf("reader: the removal seen: ENOENT\n");
				if (raced)
					fprintf(stderr, "reader: %ld posted opens met the change\n", raced);
				return 0;
			}
			continue; // removed, not yet announced
		}
		char buf[16] = {0};
		ssize_t n = read(fd, buf, sizeof buf - 1);
		int rerr = errno;
		close(fd);
		if (n < 0 && rerr == EBADF && !announced) {
			// A sandbox's posted open that met the writer's change on
			// the server before the revocation reached the client
			// (docs/COMPATIBILITY.md, "Pipelined calls"): the open
			// failed there and the fd is gone. Never natively.
			raced++;
			continue;
		}
		if (n < 0) {
			printf("reader: read: %s\n", strerror(rerr));
			return 1;
		}
		if (announced) {
			if (strcmp(buf, "new") != 0) {
				printf("reader: opened %s after its change was announced and read %s\n", path, buf);
				return 1;
			}
			printf("reader: the replacement seen: %s\n", buf);
			return 0;
		}
		if (strcmp(buf, "old") != 0 && strcmp(buf, "new") != 0) {
			printf("reader: read %s\n", buf);
			return 1;
		}
		if (i == 100) {
			int r = open(ready, O_CREAT | O_WRONLY, 0644);
			if (r < 0) {
				printf("reader: create ready: %s\n", strerror(errno));
				return 1;
			}
			close(r);
		}
	}
}

static int writer(const char *mode) {
	struct stat st;
	double start = now();
	while (stat(ready, &st) != 0) {
		if (now() - start > 120) {
			printf("writer: the reader never got ready\n");
			return 1;
		}
		usleep(10000);
	}
	// The reader goes on opening f meanwhile: its opens are posted again.
	usleep(300000);
	int err = strcmp(mode, "unlink") == 0 ? unlink(path) : rename(other, path);
	if (err != 0) {
		printf("writer: %s: %s\n", mode, strerror(errno));
		return 1;
	}
	int fd = open(gone, O_CREAT | O_WRONLY, 0644);
	if (fd < 0) {
		printf("writer: create gone: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	printf("writer: %s done\n", mode);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: reopen reader DIR | writer DIR unlink|replace\n");
		return 2;
	}
	snprintf(path, sizeof path, "%s/f", argv[2]);
	snprintf(gone, sizeof gone, "%s/gone", argv[2]);
	snprintf(ready, sizeof ready, "%s/ready", argv[2]);
	snprintf(other, sizeof other, "%s/g", argv[2]);
	if (strcmp(argv[1], "reader") == 0)
		return reader();
	return writer(argc > 3 ? argv[3] : "unlink");
}
