// listing_stat: fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW) and lstat of
// names in a directory just listed (which the client may answer from the
// listing), "." and ".." among them, at a tmpfs mount's root, and again
// after a child renamed, wrote, chmod'ed, linked and
// removed names in it. Run as root in a scratch directory.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void list(int dfd) {
	int fd = dup(dfd);
	lseek(fd, 0, SEEK_SET);
	DIR *d = fdopendir(fd);
	while (d && readdir(d))
		;
	if (d)
		closedir(d);
}

// same says how fstatat(dfd, name) compares with stat of want.
static void same(const char *what, int dfd, const char *name, const char *want) {
	struct stat a, b;
	int ra = fstatat(dfd, name, &a, AT_SYMLINK_NOFOLLOW);
	int ea = errno;
	int rb = lstat(want, &b);
	if (ra < 0 || rb < 0) {
		printf("%s: %s / %s\n", what, ra < 0 ? strerror(ea) : "ok", rb < 0 ? strerror(errno) : "ok");
		return;
	}
	printf("%s: same inode %d mode %o nlink %ld size %ld ctime same %d\n", what,
	       a.st_ino == b.st_ino && a.st_dev == b.st_dev, a.st_mode, (long)a.st_nlink, (long)a.st_size,
	       a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec);
}

static void all(const char *round, int dfd, const char *dir) {
	const char *names[] = {".", "..", "a", "b", "c", "l", "sub", "gone", NULL};
	for (int i = 0; names[i]; i++) {
		char what[64], path[128];
		snprintf(what, sizeof what, "%s %s/%s", round, dir, names[i]);
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		list(dfd);
		same(what, dfd, names[i], path);
	}
}

int main(void) {
	if (mkdir("d", 0755) || mkdir("d/sub", 0755) || symlink("a", "d/l") || mkdir("m", 0755)) {
		perror("setup");
		return 1;
	}
	for (const char *p = "abc"; *p; p++) {
		char n[8] = {'d', '/', *p, 0};
		int fd = open(n, O_CREAT | O_WRONLY, 0644);
		write(fd, n, 3);
		close(fd);
	}
	int dfd = open("d", O_RDONLY | O_DIRECTORY);
	all("before", dfd, "d");
	pid_t pid = fork();
	if (pid == 0) {
		rename("d/a", "d/b");
		int fd = open("d/c", O_WRONLY | O_APPEND);
		write(fd, "more", 4);
		close(fd);
		chmod("d/sub", 0700);
		link("d/c", "d/gone");
		unlink("d/gone");
		symlink("c", "d/a");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	all("after", dfd, "d");
	close(dfd);

	if (mount("scratch", "m", "tmpfs", 0, "size=1m") == 0) {
		mkdir("m/sub", 0755);
		int mfd = open("m", O_RDONLY | O_DIRECTORY);
		all("tmpfs", mfd, "m");
		close(mfd);
		umount("m");
	} else {
		printf("mount: %s\n", strerror(errno));
	}
	return 0;
}
