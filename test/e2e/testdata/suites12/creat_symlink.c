// creat_symlink: open(O_CREAT) without O_EXCL of a symlink follows it and
// opens or creates its target as Linux's open_last_lookups does: a
// dangling link's target is made (relative to the link's directory,
// through chains of links, absolute), O_EXCL is EEXIST, O_NOFOLLOW
// ELOOP, a target with a trailing slash or "." EISDIR, a loop ELOOP, a
// missing directory ENOENT; the target's name was stat'ed missing first
// (the path cache's negative answer must go).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void try(const char *what, int dirfd, const char *path, int flags) {
	int fd = openat(dirfd, path, flags, 0640);
	if (fd < 0) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	printf("%s: ok, write %zd\n", what, write(fd, what, strlen(what)));
	close(fd);
}

static void show(const char *path) {
	struct stat st;
	if (lstat(path, &st) < 0) {
		printf("  %s: %s\n", path, strerror(errno));
		return;
	}
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = 0;
		close(fd);
	}
	printf("  %s: mode %o size %lld %s\n", path, st.st_mode, (long long)st.st_size, buf);
}

int main(void) {
	umask(022);
	struct stat st;
	char cwd[PATH_MAX], abs[PATH_MAX + 16];
	if (!getcwd(cwd, sizeof cwd))
		return 1;
	mkdir("sub", 0755);
	mkdir("d", 0755);
	printf("stat target before: %d\n", stat("target", &st));
	symlink("target", "dang");
	printf("stat through dang before: %d\n", stat("dang", &st));
	try("creat dang", AT_FDCWD, "dang", O_CREAT | O_WRONLY);
	show("target");
	show("dang");
	try("again dang", AT_FDCWD, "dang", O_CREAT | O_WRONLY | O_APPEND);
	show("target");

	symlink("target_x", "dang_x");
	try("excl", AT_FDCWD, "dang_x", O_CREAT | O_EXCL | O_WRONLY);
	try("nofollow", AT_FDCWD, "dang_x", O_CREAT | O_NOFOLLOW | O_WRONLY);
	show("target_x");

	symlink("l2", "l1");
	symlink("sub/t2", "l2");
	try("chain", AT_FDCWD, "l1", O_CREAT | O_RDWR);
	show("sub/t2");

	symlink("t3", "d/dl");
	int dfd = open("d", O_RDONLY | O_DIRECTORY);
	try("relative to link dir", dfd, "dl", O_CREAT | O_WRONLY);
	show("d/t3");
	show("t3");

	snprintf(abs, sizeof abs, "%s/t4", cwd);
	symlink(abs, "absl");
	try("absolute", AT_FDCWD, "absl", O_CREAT | O_WRONLY);
	show("t4");

	symlink("nodir/x", "nodirl");
	try("missing dir", AT_FDCWD, "nodirl", O_CREAT | O_WRONLY);
	symlink("t5/", "slashl");
	try("trailing slash", AT_FDCWD, "slashl", O_CREAT | O_WRONLY);
	show("t5");
	symlink(".", "dotl");
	try("dot", AT_FDCWD, "dotl", O_CREAT | O_WRONLY);
	symlink("loop", "loop");
	try("loop", AT_FDCWD, "loop", O_CREAT | O_WRONLY);
	symlink("sub", "dirl");
	try("to a directory", AT_FDCWD, "dirl", O_CREAT | O_RDONLY);

	int fd = creat("dang", 0600);
	printf("creat() truncating: %d\n", fd >= 0);
	close(fd);
	show("target");
	unlink("target");
	fd = creat("dang", 0600);
	printf("creat() again: %d\n", fd >= 0);
	close(fd);
	show("target");
	return 0;
}
