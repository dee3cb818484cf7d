// pingpong writer|reader DIR N: two programs (two sandboxes on one server,
// or two host processes) step through N values in lockstep through the
// files DIR/data, DIR/flag and DIR/ack, which exist. The writer writes
// value i to data, then i to flag, then waits until ack says i; the reader
// waits until flag says i, reads data, which must say value i, and writes
// i to ack. Each waits by re-reading a file it holds open, so a reader
// that answered from a stale copy would never see the flag change (or
// would see the old data after it). The reader also maps data privately
// twice at each step, the first held while it makes the second, and both
// must show value i: under do the second comes from the plan the first
// kept on data's lease (sentry/client/mmapreuse.go). They are unmapped
// before the next step, and mapped once more after (under do from the
// kept plan with the file mapped by nothing: the mmap is posted for the
// server's reference): a mapping of the older data held while the file
// is mapped again makes the new mapping show the older data under do,
// plans kept or not (the server keeps the file's id while the client
// maps it, and the client its pages: a bug of its own).
//
// The role "holder" is a reader that keeps one mapping of the data from
// each step to the next: the new step's mappings must show the new value
// although the file is still mapped (the same server file, refreshed by
// its gen: sentry/server/mapped), and so must the held one, which maps
// the page cache as on Linux (its page was never written to).
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int openat_dir(const char *dir, const char *name, int flags) {
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, flags);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static void put(int fd, const char *s) {
	if (ftruncate(fd, 0) != 0 || pwrite(fd, s, strlen(s), 0) != (ssize_t)strlen(s)) {
		perror("put");
		exit(1);
	}
}

static int get(int fd, char *buf, size_t n) {
	ssize_t got = pread(fd, buf, n - 1, 0);
	if (got < 0) {
		perror("pread");
		exit(1);
	}
	buf[got] = 0;
	return (int)got;
}

// await re-reads fd until it holds want, for at most 60 s.
static void await(int fd, const char *want, const char *what) {
	char buf[64];
	time_t end = time(NULL) + 60;
	for (;;) {
		get(fd, buf, sizeof buf);
		if (strcmp(buf, want) == 0)
			return;
		if (time(NULL) > end) {
			printf("timeout waiting for %s %s (has %s)\n", what, want, buf);
			exit(1);
		}
		usleep(200);
	}
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: pingpong writer|reader DIR N\n");
		return 2;
	}
	const char *dir = argv[2];
	int n = atoi(argv[3]);
	int writer = strcmp(argv[1], "writer") == 0;
	int holder = strcmp(argv[1], "holder") == 0;
	char *held = NULL;
	int data = openat_dir(dir, "data", writer ? O_WRONLY : O_RDONLY);
	int flag = openat_dir(dir, "flag", writer ? O_WRONLY : O_RDONLY);
	int ack = openat_dir(dir, "ack", writer ? O_RDONLY : O_WRONLY);
	char want[64], buf[64];
	for (int i = 1; i <= n; i++) {
		snprintf(want, sizeof want, "%04d", i);
		if (writer) {
			snprintf(buf, sizeof buf, "value %04d", i);
			put(data, buf);
			put(flag, want);
			await(ack, want, "ack");
		} else {
			await(flag, want, "flag");
			char expect[64];
			snprintf(expect, sizeof expect, "value %04d", i);
			get(data, buf, sizeof buf);
			if (strcmp(buf, expect) != 0) {
				printf("stale data at step %d: %s\n", i, buf);
				return 1;
			}
			char *m[2];
			for (int j = 0; j < 2; j++) {
				m[j] = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, data, 0);
				if (m[j] == MAP_FAILED) {
					perror("mmap");
					return 1;
				}
				if (strncmp(m[j], expect, strlen(expect)) != 0) {
					printf("stale mapping %d at step %d: %.10s\n", j, i, m[j]);
					return 1;
				}
			}
			if (held != NULL && strncmp(held, expect, strlen(expect)) != 0) {
				printf("stale held mapping at step %d: %.10s\n", i, held);
				return 1;
			}
			if (held != NULL)
				munmap(held, 4096);
			held = NULL;
			for (int j = 0; j < 2; j++) {
				if (holder && j == 0)
					held = m[j];
				else
					munmap(m[j], 4096);
			}
			if (!holder) {
				// Mapped by nothing now: under do the plan kept on
				// the lease maps it again from the client's whole
				// copy, and the mmap is posted for the server's
				// reference (mmapreuse.go).
				char *again = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, data, 0);
				if (again == MAP_FAILED) {
					perror("mmap again");
					return 1;
				}
				if (strncmp(again, expect, strlen(expect)) != 0) {
					printf("stale mapping after the unmaps at step %d: %.10s\n", i, again);
					return 1;
				}
				munmap(again, 4096);
			}
			put(ack, want);
		}
	}
	printf("%s: %d steps\n", argv[1], n);
	return 0;
}
