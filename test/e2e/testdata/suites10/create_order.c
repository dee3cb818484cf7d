// create_order: the errors of open(O_CREAT), mkdir and fstatat where a
// name exists, a parent forbids writing or searching, or a path ends in a
// symlink, a file or a slash, after the same names were stat'ed and listed
// (so that the client's path cache and the server's dentries know them)
// and before (so that creation is tried first). Run as root in a scratch
// directory; it drops to uid/gid 65534 for the permission checks. (An
// O_CREAT open through a dangling symlink, which Linux follows to create
// its target, is ENOENT here: docs/COMPATIBILITY.md.)
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: ok\n", what);
}

static long openclose(const char *p, int flags) {
	int fd = open(p, flags, 0644);
	if (fd >= 0)
		close(fd);
	return fd;
}

static void stats(const char *p) {
	struct stat st;
	char b[64];
	snprintf(b, sizeof b, "stat %s", p);
	show(b, stat(p, &st));
	snprintf(b, sizeof b, "lstat %s", p);
	show(b, lstat(p, &st));
}

static void probe(const char *round) {
	static const char *paths[] = {"ro/file", "ro/dir", "ro/link", "ro/none", "ro/file/", "ro/dir/",
				      "ro/file/x", "ro/none/x", "nosearch/file", "ro/.", "ro/..", "ro/dir/.", "ro/link/", NULL};
	for (int i = 0; paths[i]; i++) {
		const char *p = paths[i];
		char b[80];
		snprintf(b, sizeof b, "%s mkdir %s", round, p);
		show(b, mkdir(p, 0755));
		snprintf(b, sizeof b, "%s creat %s", round, p);
		show(b, openclose(p, O_CREAT | O_RDONLY));
		snprintf(b, sizeof b, "%s creat-excl %s", round, p);
		show(b, openclose(p, O_CREAT | O_EXCL | O_RDONLY));
		snprintf(b, sizeof b, "%s creat-dir %s", round, p);
		show(b, openclose(p, O_CREAT | O_WRONLY));
		snprintf(b, sizeof b, "%s open-nofollow %s", round, p);
		show(b, openclose(p, O_RDONLY | O_NOFOLLOW));
		snprintf(b, sizeof b, "%s open-directory %s", round, p);
		show(b, openclose(p, O_RDONLY | O_DIRECTORY));
		snprintf(b, sizeof b, "%s open-noatime %s", round, p);
		show(b, openclose(p, O_RDONLY | O_NOATIME));
	}
}

int main(void) {
	if (mkdir("ro", 0755) || mkdir("ro/dir", 0755) || openclose("ro/file", O_CREAT | O_WRONLY) < 0 ||
	    symlink("file", "ro/link") || symlink("gone", "ro/dangling") || mkdir("nosearch", 0700) ||
	    openclose("nosearch/file", O_CREAT | O_WRONLY) < 0 || chmod("ro", 0555) ||
	    chmod("ro/file", 0644)) {
		perror("setup");
		return 1;
	}
	if (setgid(65534) || setuid(65534)) {
		perror("drop");
		return 1;
	}
	probe("cold");
	stats("ro/file");
	stats("ro/dir");
	stats("ro/link");
	stats("ro/dangling");
	stats("ro/none");
	stats("nosearch/file");
	int dfd = open("ro", O_RDONLY | O_DIRECTORY);
	DIR *d = fdopendir(dup(dfd));
	while (d && readdir(d))
		;
	const char *names[] = {"file", "dir", "link", "dangling", "none", ".", "..", NULL};
	for (int i = 0; names[i]; i++) {
		struct stat st;
		char b[64];
		snprintf(b, sizeof b, "fstatat ro %s", names[i]);
		show(b, fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW));
		snprintf(b, sizeof b, "mkdirat ro %s", names[i]);
		show(b, mkdirat(dfd, names[i], 0755));
	}
	probe("warm");
	return 0;
}
