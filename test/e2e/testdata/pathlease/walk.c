// walk MODE N ROUNDS: makes N files in 10 directories under ./t (every
// third with a symlink to it), then asks about them ROUNDS times as
//   find: lstat of each file, readlink of each symlink;
//   make: newfstatat of each source and of its target (t/dK/fJ.o, which
//         does not exist: ENOENT), access(R_OK) of each source;
//   statx: statx of each file relative to its directory's fd.
// Prints a checksum of every answer (sizes, modes, link counts, errnos,
// link targets), so that a run under do can be compared with a native
// one.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long sum;

static void die(const char *what) {
	perror(what);
	exit(1);
}

static void note_stat(int r, const struct stat *st) {
	if (r != 0) {
		sum += 1000 + errno;
		return;
	}
	sum += st->st_size + st->st_mode + st->st_nlink;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: walk find|make|statx N ROUNDS\n");
		return 2;
	}
	const char *mode = argv[1];
	int n = atoi(argv[2]), rounds = atoi(argv[3]);
	char path[256];
	if (mkdir("t", 0755) != 0)
		die("mkdir t");
	int dirfds[10];
	for (int d = 0; d < 10; d++) {
		snprintf(path, sizeof path, "t/d%d", d);
		if (mkdir(path, 0755) != 0)
			die("mkdir");
		dirfds[d] = open(path, O_RDONLY | O_DIRECTORY);
		if (dirfds[d] < 0)
			die("open dir");
	}
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "t/d%d/f%d", i % 10, i);
		int fd = open(path, O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			die("create");
		if (write(fd, path, i % 50) != i % 50)
			die("write");
		close(fd);
		if (i % 3 == 0) {
			char link[256], target[64];
			snprintf(link, sizeof link, "t/d%d/l%d", i % 10, i);
			snprintf(target, sizeof target, "f%d", i);
			if (symlink(target, link) != 0)
				die("symlink");
		}
	}
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < n; i++) {
			struct stat st;
			snprintf(path, sizeof path, "t/d%d/f%d", i % 10, i);
			if (strcmp(mode, "find") == 0) {
				note_stat(lstat(path, &st), &st);
				if (i % 3 == 0) {
					char link[256], buf[64];
					snprintf(link, sizeof link, "t/d%d/l%d", i % 10, i);
					ssize_t k = readlink(link, buf, sizeof buf);
					sum += k < 0 ? 1000 + errno : (unsigned long)k + (unsigned char)buf[1];
				}
			} else if (strcmp(mode, "make") == 0) {
				char target[256];
				snprintf(target, sizeof target, "%s.o", path);
				note_stat(fstatat(AT_FDCWD, path, &st, 0), &st);
				note_stat(fstatat(AT_FDCWD, target, &st, 0), &st);
				sum += access(path, R_OK) == 0 ? 1 : 1000 + errno;
			} else {
				char name[64];
				struct statx sx;
				snprintf(name, sizeof name, "f%d", i);
				if (statx(dirfds[i % 10], name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0)
					sum += 1000 + errno;
				else
					sum += sx.stx_size + sx.stx_mode + sx.stx_nlink;
			}
		}
	}
	printf("%s: %d files, %d rounds, checksum %lu\n", mode, n, rounds, sum);
	return 0;
}
