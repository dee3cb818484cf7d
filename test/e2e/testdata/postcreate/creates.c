// creates: what tar does per member, and its variants. Each case
// unlinks a name twice (ENOENT: the second is answered by the sandbox's
// client from the first's lease), creates it with open(2) under a
// umask (posted by the client, with the fd it predicts), writes to it
// (written behind before the creation's reply), fstats it at once
// (its inode must be the file's), changes its mode and times, closes
// it, and reads it back by name. Run in an empty directory; prints
// what it saw.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

struct tcase {
	const char *name;
	int dirfd_rel; // openat relative to a descriptor of "w"
	int flags;
	mode_t mode, umask;
};

static int wdir = -1;

static void one(const struct tcase *c) {
	int dfd = c->dirfd_rel ? wdir : AT_FDCWD;
	const char *path = c->dirfd_rel ? c->name + 2 : c->name; // "w/x" -> "x"
	for (int i = 0; i < 2; i++) {
		int r = unlinkat(dfd, path, 0);
		printf("%s: unlink %d: %s\n", c->name, i, err(r));
	}
	umask(c->umask);
	int fd = openat(dfd, path, c->flags, c->mode);
	if (fd < 0) {
		printf("%s: open: %s\n", c->name, strerror(errno));
		return;
	}
	printf("%s: open: fd %d\n", c->name, fd);
	char buf[64];
	snprintf(buf, sizeof buf, "data of %s\n", c->name);
	ssize_t n = write(fd, buf, strlen(buf));
	printf("%s: write: %zd\n", c->name, n);
	struct stat fst, st;
	if (fstat(fd, &fst) < 0) {
		printf("%s: fstat: %s\n", c->name, strerror(errno));
		return;
	}
	printf("%s: fstat: mode %o uid %d gid %d size %lld nlink %d\n", c->name, fst.st_mode, fst.st_uid, fst.st_gid,
	       (long long)fst.st_size, (int)fst.st_nlink);
	n = write(fd, buf, strlen(buf));
	printf("%s: write: %zd, offset %lld\n", c->name, n, (long long)lseek(fd, 0, SEEK_CUR));
	// tar's restoring of the member's attributes.
	printf("%s: chown %s", c->name, err(chown(c->name, 0, 0)));
	printf(", chmod %s", err(chmod(c->name, 0640)));
	struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
	printf(", utimensat %s\n", err(utimensat(AT_FDCWD, c->name, ts, 0)));
	printf("%s: close: %s\n", c->name, err(close(fd)));
	if (stat(c->name, &st) < 0) {
		printf("%s: stat: %s\n", c->name, strerror(errno));
		return;
	}
	printf("%s: stat: mode %o size %lld mtime %lld, same inode as fstat: %d\n", c->name, st.st_mode, (long long)st.st_size,
	       (long long)st.st_mtime, st.st_ino == fst.st_ino);
	int rfd = open(c->name, O_RDONLY);
	char back[256] = {0};
	n = read(rfd, back, sizeof back - 1);
	close(rfd);
	printf("%s: read back %zd: %s", c->name, n, back);
	int again = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	printf("%s: O_EXCL again: %s\n", c->name, err(again));
	if (again >= 0)
		close(again);
}

int main(void) {
	umask(022);
	if (mkdir("w", 0755) < 0 || mkdir("w/sg", 0775) < 0 || chown("w/sg", 0, 1234) < 0 || chmod("w/sg", 02775) < 0) {
		perror("setup");
		return 1;
	}
	wdir = open("w", O_RDONLY | O_DIRECTORY);
	static const struct tcase cases[] = {
		{"w/a", 0, O_WRONLY | O_CREAT | O_EXCL, 0644, 022},
		{"w/b", 0, O_RDWR | O_CREAT | O_TRUNC, 0666, 077},
		{"w/c", 0, O_WRONLY | O_CREAT, 0600, 0},
		{"w/sg/d", 0, O_WRONLY | O_CREAT | O_EXCL, 02755, 022},
		{"w/e", 0, O_RDWR | O_CREAT | O_EXCL | O_APPEND, 0644, 022},
		{"w/f", 1, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644, 022},
		{"w/nodir/g", 0, O_WRONLY | O_CREAT | O_EXCL, 0644, 022},
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
		one(&cases[i]);
	// The lowest free fd: one below the last one taken.
	int keep = open("w/a", O_RDONLY), hole = open("w/b", O_RDONLY);
	close(keep);
	printf("unlink w/h: %s\n", err(unlink("w/h")));
	int fd = open("w/h", O_WRONLY | O_CREAT | O_EXCL, 0644);
	printf("w/h: fd %d (keep was %d, hole %d)\n", fd, keep, hole);
	close(fd);
	close(hole);
	// A trailing slash: no file is made.
	printf("unlink w/i: %s\n", err(unlink("w/i")));
	printf("open w/i/ O_CREAT: %s\n", err(open("w/i/", O_WRONLY | O_CREAT, 0644)));
	printf("stat w/i: %s\n", err(access("w/i", F_OK)));
	// A directory made where an unlink found the name missing.
	printf("unlink w/j: %s, mkdir w/j: %s, unlink w/j: %s\n", err(unlink("w/j")), err(mkdir("w/j", 0755)),
	       err(unlink("w/j")));
	// The name made by another call after the unlink: rename.
	printf("unlink w/k: %s, rename w/h w/k: %s, O_EXCL w/k: %s\n", err(unlink("w/k")), err(rename("w/h", "w/k")),
	       err(open("w/k", O_WRONLY | O_CREAT | O_EXCL, 0644)));
	return 0;
}
