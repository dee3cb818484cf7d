// unlinkcycle DIR ME OTHER ROUNDS FILES: one of two programs, run side by
// side (in sandboxes on one server, or natively), each removing its own
// files while it holds leases on the other's. DIR/ME and DIR/OTHER are
// their directories and DIR/sync the barrier between them, which the
// caller made; the barrier's files are outside both directories, so
// that its stats and creations change nothing either holds a lease on.
//
// Each of ROUNDS rounds: create FILES files in DIR/ME; once the other's
// are made, list DIR/OTHER and lstat each of its files (a sandbox keeps
// the answers, under leases of the listing, the directory and each file);
// list DIR/ME (whose lstat answers let a sandbox post the unlinks); meet
// the other at the barrier (both now hold leases on the other's files);
// then unlink each own file (posted in a sandbox: answered 0 at once) and
// check that it is gone. Each unlink's change on the server waits for the
// other client's acknowledgment of the revocation of its leases, which
// counts only after that client's own posted unlinks sent before it: two
// changes each waiting for the other's acknowledgment, which the server's
// cycle breaker lets the older client's go through (else both wait for
// the leases' expiry). It prints one line, the same natively and in a
// sandbox when every call answered as Linux does, or the first
// violation.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *dir, *me, *other;

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

// wait_for polls path until it exists; 0 after two minutes.
static int wait_for(const char *path) {
	struct stat st;
	double start = now();
	while (stat(path, &st) != 0) {
		if (errno != ENOENT) {
			printf("%s: stat %s: %s\n", me, path, strerror(errno));
			return 0;
		}
		if (now() - start > 120) {
			printf("%s: %s never came\n", me, path);
			return 0;
		}
		usleep(500);
	}
	return 1;
}

// list reads directory path to its end and returns how many of its
// entries are round r's files; -1 on an error.
static int list(const char *path, long r) {
	DIR *d = opendir(path);
	if (d == NULL) {
		printf("%s: opendir %s: %s\n", me, path, strerror(errno));
		return -1;
	}
	char prefix[32];
	int n = 0;
	snprintf(prefix, sizeof(prefix), "r%ld_", r);
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	if (errno != 0) {
		printf("%s: readdir %s: %s\n", me, path, strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	return n;
}

// mark creates DIR/sync/<who>.<what><r>.
static int mark(const char *what, long r) {
	char path[4200];
	snprintf(path, sizeof(path), "%s/sync/%s.%s%ld", dir, me, what, r);
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0) {
		printf("%s: create %s: %s\n", me, path, strerror(errno));
		return 0;
	}
	close(fd);
	return 1;
}

// meet waits for the other's DIR/sync/<other>.<what><r>.
static int meet(const char *what, long r) {
	char path[4200];
	snprintf(path, sizeof(path), "%s/sync/%s.%s%ld", dir, other, what, r);
	return wait_for(path);
}

static int round_of(long r, int files) {
	char mine[4200], theirs[4200], path[4300];
	struct stat st;
	snprintf(mine, sizeof(mine), "%s/%s", dir, me);
	snprintf(theirs, sizeof(theirs), "%s/%s", dir, other);
	for (int i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/r%ld_%d", mine, r, i);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0) {
			printf("%s: create %s: %s\n", me, path, strerror(errno));
			return 0;
		}
		close(fd);
	}
	if (!mark("made", r) || !meet("made", r))
		return 0;
	int n = list(theirs, r);
	if (n != files) {
		if (n >= 0)
			printf("%s: round %ld: the other's directory listed %d files, want %d\n", me, r, n, files);
		return 0;
	}
	for (int i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/r%ld_%d", theirs, r, i);
		if (lstat(path, &st) != 0) {
			printf("%s: lstat %s before the barrier: %s\n", me, path, strerror(errno));
			return 0;
		}
	}
	if ((n = list(mine, r)) != files) {
		if (n >= 0)
			printf("%s: round %ld: its directory listed %d files, want %d\n", me, r, n, files);
		return 0;
	}
	if (!mark("leased", r) || !meet("leased", r))
		return 0;
	for (int i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/r%ld_%d", mine, r, i);
		if (unlink(path) != 0) {
			printf("%s: unlink %s: %s\n", me, path, strerror(errno));
			return 0;
		}
	}
	for (int i = 0; i < files; i++) {
		snprintf(path, sizeof(path), "%s/r%ld_%d", mine, r, i);
		if (lstat(path, &st) == 0 || errno != ENOENT) {
			printf("%s: lstat %s after its unlink: %s\n", me, path, errno == 0 ? "found" : strerror(errno));
			return 0;
		}
	}
	return 1;
}

int main(int argc, char **argv) {
	if (argc != 6 || strlen(argv[1]) > 4000 || strlen(argv[2]) > 40 || strlen(argv[3]) > 40) {
		fprintf(stderr, "usage: unlinkcycle DIR ME OTHER ROUNDS FILES\n");
		return 2;
	}
	dir = argv[1];
	me = argv[2];
	other = argv[3];
	long rounds = atol(argv[4]);
	int files = atoi(argv[5]);
	if (rounds <= 0 || files <= 0 || files > 1000) {
		fprintf(stderr, "unlinkcycle: ROUNDS and FILES must be positive (FILES at most 1000)\n");
		return 2;
	}
	for (long r = 0; r < rounds; r++) {
		if (!round_of(r, files))
			return 1;
	}
	printf("%s: %ld rounds of %d unlinks, each file gone after its unlink\n", me, rounds, files);
	return 0;
}
