// readlink with an empty path: ENOENT unless dirfd is an O_PATH fd of a
// symlink, which is read (LTP readlink03).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void show(const char *what, long r, const char *buf) {
	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %.*s\n", what, (int)r, buf);
}

int main(int argc, char **argv) {
	if (argc != 2 || chdir(argv[1])) {
		perror("usage: readlink_empty DIR");
		return 2;
	}
	char buf[64];
	close(open("file", O_CREAT | O_WRONLY, 0644));
	symlink("file", "link");
	show("readlink \"\"", readlink("", buf, sizeof(buf)), buf);
	int dir = open(".", O_RDONLY | O_DIRECTORY);
	show("readlinkat dir \"\"", readlinkat(dir, "", buf, sizeof(buf)), buf);
	int lfd = open("link", O_PATH | O_NOFOLLOW);
	show("readlinkat symlink fd \"\"", readlinkat(lfd, "", buf, sizeof(buf)), buf);
	int ffd = open("file", O_PATH);
	show("readlinkat file fd \"\"", readlinkat(ffd, "", buf, sizeof(buf)), buf);
	show("readlink file", readlink("file", buf, sizeof(buf)), buf);
	show("readlink link size 0", readlink("link", buf, 0), buf);
	show("readlink link", readlink("link", buf, sizeof(buf)), buf);
	return 0;
}
