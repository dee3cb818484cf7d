// churn reader DIR | writer DIR ROUNDS: two programs, run side by side
// (in two sandboxes on one server, or natively), that race an open of a
// file with another party's change of its name.
//
// The reader opens DIR/d/f read-only again and again (opens a sandbox
// posts once its path cache holds their answer), reads it, and keeps the
// previous round's descriptor open one round longer, reading it again. The
// file always holds "v<N>": the writer's round N replaced it. The reader
// checks what Linux guarantees to one process whose opens follow each
// other:
//   - an open fails only with ENOENT (between a removal and the
//     creation that follows it), and a read of a descriptor an open
//     returned never fails (no EBADF: a posted open must succeed on the
//     server as the application was told);
//   - the versions its opens find never go back, and an open after an
//     ENOENT finds a later version than any before it;
//   - a descriptor opened before a change reads the old contents.
// It prints one line (the same natively and in the sandbox when all
// holds), or the first violation.
//
// The writer waits for DIR/ready (the reader creates it after 100 opens),
// then makes ROUNDS changes, each one of: unlink f and link a new file
// at its name; rename a new file over f; rename the directory d away,
// rename a new one with a new f to d and remove the old one. A file is
// written before it gets its name. Then it creates DIR/done.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char sub[4200], path[4200], other[4200], tmp[4200], done[4200], ready[4200], old[4200], oldf[4200], fresh[4200], freshf[4200];

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

// version parses "v<N>" (-1 if buf is not one).
static long version(const char *buf) {
	if (buf[0] != 'v')
		return -1;
	char *end;
	long v = strtol(buf + 1, &end, 10);
	return *end == 0 && end != buf + 1 ? v : -1;
}

static int reader(void) {
	double start = now();
	long last = -1;    // the latest version an open found
	long floor = 0;    // the least version the next open may find
	int held = -1;     // the previous round's descriptor
	long heldv = -1;   // and the version it read
	long opens = 0;
	int finishing = 0;
	for (long i = 0;; i++) {
		if (now() - start > 120) {
			printf("reader: timed out after %ld rounds\n", i);
			return 1;
		}
		struct stat st;
		if (!finishing && stat(done, &st) == 0)
			finishing = 1; // one more round: the writer made its last change
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ENOENT) {
				printf("reader: open: %s\n", strerror(errno));
				return 1;
			}
			floor = last + 1;
		} else {
			opens++;
			char buf[32] = {0};
			ssize_t n = read(fd, buf, sizeof buf - 1);
			if (n < 0) {
				printf("reader: read of a descriptor open returned: %s\n", strerror(errno));
				return 1;
			}
			long v = version(buf);
			if (v < 0) {
				printf("reader: read %s\n", buf);
				return 1;
			}
			if (v < last || v < floor) {
				printf("reader: an open found version %ld after version %ld (at least %ld)\n", v, last, floor);
				return 1;
			}
			last = v;
			if (held >= 0) {
				char again[32] = {0};
				if (pread(held, again, sizeof again - 1, 0) < 0 || version(again) != heldv) {
					printf("reader: a descriptor of version %ld read %s (%s)\n", heldv, again, strerror(errno));
					return 1;
				}
				close(held);
			}
			held = fd;
			heldv = v;
		}
		if (i == 100) {
			int r = open(ready, O_CREAT | O_WRONLY, 0644);
			if (r < 0) {
				printf("reader: create ready: %s\n", strerror(errno));
				return 1;
			}
			close(r);
		}
		if (finishing == 1) {
			finishing = 2;
		} else if (finishing == 2) {
			break;
		}
	}
	if (opens < 100) {
		printf("reader: only %ld opens\n", opens);
		return 1;
	}
	printf("reader: every open and read as Linux allows\n");
	return 0;
}

static int put(const char *p, long v) {
	int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0)
		return -1;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "v%ld", v);
	int err = write(fd, buf, n) == n ? 0 : -1;
	close(fd);
	return err;
}

static int writer(long rounds) {
	struct stat st;
	double start = now();
	while (stat(ready, &st) != 0) {
		if (now() - start > 120) {
			printf("writer: the reader never got ready\n");
			return 1;
		}
		usleep(10000);
	}
	for (long v = 1; v <= rounds; v++) {
		// Let the reader take its path leases again and post opens.
		usleep(15000 + (v * 7919) % 20000);
		const char *what;
		int err = 0;
		switch (v % 3) {
		case 0:
			// The name is missing a while, then comes back.
			what = "unlink";
			err = unlink(path);
			if (!err) {
				usleep(2000);
				err = put(tmp, v);
			}
			if (!err)
				err = link(tmp, path);
			if (!err)
				err = unlink(tmp);
			break;
		case 1:
			what = "rename over";
			err = put(other, v);
			if (!err)
				err = rename(other, path);
			break;
		default:
			// The directory the reader walks through goes, and another
			// takes its name.
			what = "rename dir";
			err = mkdir(fresh, 0755);
			if (!err)
				err = put(freshf, v);
			if (!err)
				err = rename(sub, old);
			if (!err)
				err = rename(fresh, sub);
			if (!err)
				err = unlink(oldf);
			if (!err)
				err = rmdir(old);
			break;
		}
		if (err) {
			printf("writer: round %ld (%s): %s\n", v, what, strerror(errno));
			return 1;
		}
	}
	if (put(done, 0) != 0) {
		printf("writer: create done: %s\n", strerror(errno));
		return 1;
	}
	printf("writer: %ld rounds done\n", rounds);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: churn reader DIR | writer DIR ROUNDS\n");
		return 2;
	}
	const char *dir = argv[2];
	if (strlen(dir) > 4000) {
		fprintf(stderr, "churn: %s: too long\n", dir);
		return 2;
	}
	sprintf(sub, "%s/d", dir);
	sprintf(path, "%s/d/f", dir);
	sprintf(other, "%s/d/g", dir);
	sprintf(tmp, "%s/tmp", dir);
	sprintf(old, "%s/old", dir);
	sprintf(oldf, "%s/old/f", dir);
	sprintf(fresh, "%s/new", dir);
	sprintf(freshf, "%s/new/f", dir);
	sprintf(done, "%s/done", dir);
	sprintf(ready, "%s/ready", dir);
	if (strcmp(argv[1], "reader") == 0)
		return reader();
	return writer(argc > 3 ? atol(argv[3]) : 30);
}
