// fts DIR [statx]: walks the tree under DIR as GNU find's fts does: each
// directory is opened relative to its parent's fd (openat(dirfd, name,
// O_DIRECTORY)), listed with getdents64, and each entry asked about
// once with fstatat(fd, name, AT_SYMLINK_NOFOLLOW) (with statx:
// statx(fd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS), as
// coreutils asks). Prints each path with its type, size and link count,
// in listing order sorted per directory.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int cmp(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static long entries;
static int use_statx;

// ask stats name relative to fd the way the program was told to.
static int ask(int fd, const char *name, struct stat *st) {
	if (!use_statx)
		return fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW);
	struct statx sx;
	if (statx(fd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0)
		return -1;
	memset(st, 0, sizeof *st);
	st->st_mode = sx.stx_mode;
	st->st_size = sx.stx_size;
	st->st_nlink = sx.stx_nlink;
	return 0;
}

static void walk(int fd, const char *path) {
	char buf[8192];
	char *names[4096];
	int n = 0;
	long got;
	while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
		for (long off = 0; off < got;) {
			struct linux_dirent64 *d = (void *)(buf + off);
			off += d->d_reclen;
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			if (n < 4096)
				names[n++] = strdup(d->d_name);
		}
	}
	qsort(names, n, sizeof names[0], cmp);
	for (int i = 0; i < n; i++) {
		struct stat st;
		entries++;
		if (ask(fd, names[i], &st) != 0) {
			printf("%s/%s: %s\n", path, names[i], strerror(errno));
			continue;
		}
		printf("%s/%s: %s size %lld nlink %lu mode %o\n", path, names[i], S_ISDIR(st.st_mode) ? "dir" : "file",
		       S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size, (unsigned long)st.st_nlink, st.st_mode & 07777);
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(fd, names[i], O_RDONLY | O_DIRECTORY);
			if (sub < 0) {
				perror("openat");
				exit(1);
			}
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", path, names[i]);
			walk(sub, p);
			close(sub);
		}
		free(names[i]);
	}
}

int main(int argc, char **argv) {
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: fts DIR [statx]\n");
		return 2;
	}
	use_statx = argc == 3 && strcmp(argv[2], "statx") == 0;
	int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	walk(fd, ".");
	printf("%ld entries\n", entries);
	return 0;
}
