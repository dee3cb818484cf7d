// createrace creator DIR ROUNDS [NAME] | other DIR: programs, run side by
// side (in sandboxes on one server, or natively), that create and remove
// names in DIR/names, which the caller made: the creator DIR/names/NAME
// (n by default), the other DIR/names/n. DIR/ready and DIR/done, which
// both stat in a loop, are outside DIR/names: a server lets one client
// at a time post creations in a directory, and the other's stats of
// done there would keep the creator from posting any.
//
// The creator, ROUNDS times: unlinks its name (a sandbox keeps the
// answer, and an ENOENT as the name's absence under a lease), creates it
// with O_CREAT|O_EXCL (a creation a sandbox posts on the strength of
// that lease), fstats and closes the fd, and removes it. The other,
// until DIR/done exists: creates n with O_EXCL, and removes it. Linux
// allows the creator's open to fail with EEXIST (the other made the name
// first), but an fd it returned is open: its fstat never fails (no
// EBADF: a posted creation must not meet the other's on the server). The
// creator prints one line (the same natively and in the sandbox when all
// holds), or the first violation, then creates DIR/done. Two creators of
// different names may run side by side (DIR/ready made beforehand): each
// creation waits for the other client's acknowledgment of its leases'
// revocation, which must never wait for that client's own creation.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char n[4200], done[4200], ready[4200];

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int finish(int code) {
	int fd = open(done, O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	return code;
}

static int creator(long rounds) {
	struct stat st;
	double start = now();
	while (stat(ready, &st) != 0) {
		if (now() - start > 120) {
			printf("creator: the other never got ready\n");
			return finish(1);
		}
		usleep(1000);
	}
	long made = 0, exists = 0;
	for (long i = 0; i < rounds; i++) {
		if (unlink(n) < 0 && errno != ENOENT) {
			printf("creator: unlink: %s\n", strerror(errno));
			return finish(1);
		}
		int fd = open(n, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0) {
			if (errno != EEXIST) {
				printf("creator: open: %s\n", strerror(errno));
				return finish(1);
			}
			exists++;
			continue;
		}
		made++;
		if (fstat(fd, &st) < 0) {
			printf("creator: fstat of the fd its creation returned: %s\n", strerror(errno));
			return finish(1);
		}
		if (close(fd) < 0) {
			printf("creator: close: %s\n", strerror(errno));
			return finish(1);
		}
		// Gone again, so that the next round's unlink finds it missing
		// (or the other's).
		if (unlink(n) < 0 && errno != ENOENT) {
			printf("creator: unlink: %s\n", strerror(errno));
			return finish(1);
		}
	}
	fprintf(stderr, "creator: %ld made, %ld found made\n", made, exists);
	if (made == 0) {
		printf("creator: made nothing\n");
		return finish(1);
	}
	printf("creator: every creation as Linux allows\n");
	return finish(0);
}

static int other(void) {
	struct stat st;
	double start = now();
	int fd = open(ready, O_CREAT | O_WRONLY, 0644);
	if (fd < 0) {
		printf("other: ready: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	long rounds = 0;
	while (stat(done, &st) != 0) {
		if (now() - start > 120) {
			printf("other: the creator never finished\n");
			return 1;
		}
		rounds++;
		fd = open(n, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0) {
			if (errno != EEXIST) {
				printf("other: open: %s\n", strerror(errno));
				return 1;
			}
			usleep(500);
			continue;
		}
		close(fd);
		usleep(200);
		if (unlink(n) < 0 && errno != ENOENT) {
			printf("other: unlink: %s\n", strerror(errno));
			return 1;
		}
		usleep(1000);
	}
	printf("other: done\n");
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3 || strlen(argv[2]) > 4000 || (argc > 4 && strlen(argv[4]) > 100)) {
		fprintf(stderr, "usage: createrace creator DIR ROUNDS [NAME] | other DIR\n");
		return 2;
	}
	sprintf(n, "%s/names/%s", argv[2], argc > 4 ? argv[4] : "n");
	sprintf(done, "%s/done", argv[2]);
	sprintf(ready, "%s/ready", argv[2]);
	if (strcmp(argv[1], "creator") == 0)
		return creator(argc > 3 ? atol(argv[3]) : 2000);
	return other();
}
