// openstat.c: fstat of fds opened by paths (sentry/client/openstat.go):
// glibc's open of a locale directory without O_DIRECTORY and its fstat,
// gcc's open of a header and its fstat, find's lstat of a directory then
// its open with O_DIRECTORY and its fstat, in rounds; between rounds the
// program changes the file's mode and size and the directory's link
// count, and every fstat after must show it, as on Linux. It prints what
// each fstat finds (type, mode, size, link count, whether the inode is
// the path's); the test compares the output with a native run.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long sum;

static void note(const char *what, int fd, const char *path, int lst) {
	struct st_pair {
		struct stat f, p;
	} s;
	if (fd < 0) {
		printf("%s: open failed\n", what);
		return;
	}
	int a = fstat(fd, &s.f);
	int b = lst ? lstat(path, &s.p) : stat(path, &s.p);
	if (a != 0 || b != 0) {
		printf("%s: stat failed\n", what);
		close(fd);
		return;
	}
	sum = sum * 31 + s.f.st_mode + s.f.st_size * 7 + s.f.st_nlink * 13 + (s.f.st_ino == s.p.st_ino);
	close(fd);
}

static void round_(int r) {
	note("dir", open("d/sub", O_RDONLY | O_CLOEXEC), "d/sub", 0);
	note("file", open("d/f", O_RDONLY | O_NOCTTY), "d/f", 0);
	struct stat st;
	lstat("d/sub", &st);
	note("find", open("d/sub", O_RDONLY | O_DIRECTORY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK), "d/sub", 1);
	(void)r;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	const int rounds = 50;
	if (mkdir("d", 0755) != 0 || mkdir("d/sub", 0755) != 0) {
		perror("mkdir");
		return 1;
	}
	int fd = open("d/f", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "hello", 5) != 5) {
		perror("d/f");
		return 1;
	}
	close(fd);
	for (int r = 0; r < rounds; r++)
		round_(r);
	printf("before the changes: %lu\n", sum);
	// Each change must show at the next fstat.
	chmod("d/f", 0600);
	round_(0);
	printf("after chmod: %lu\n", sum);
	fd = open("d/f", O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, " world", 6) != 6) {
		perror("append");
		return 1;
	}
	close(fd);
	round_(0);
	printf("after a write: %lu\n", sum);
	mkdir("d/sub/x", 0755);
	round_(0);
	printf("after a mkdir in the directory: %lu\n", sum);
	for (int r = 0; r < rounds; r++)
		round_(r);
	printf("after the changes: %lu\n", sum);
	return 0;
}
