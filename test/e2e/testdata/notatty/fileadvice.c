// fileadvice: the ioctls and fadvise64 calls cp makes of each file it
// copies, and their errors on a regular file opened for reading, one
// opened O_PATH and a pipe, printed for comparison with a native run.
// FICLONE's error is the file system's (EOPNOTSUPP on ext4, ENOTTY on
// tmpfs and in the sandbox), so only its failure is printed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void advise(const char *what, int fd, off_t len, int advice) {
	int e = posix_fadvise(fd, 0, len, advice);
	printf("%s: fadvise(len %lld, advice %d) %s\n", what, (long long)len, advice, strerror(e));
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: fileadvice ROUNDS\n");
		return 2;
	}
	int rounds = atoi(argv[1]);
	int fd = open("advice.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "hello\n", 6) != 6) {
		perror("create");
		return 1;
	}
	close(fd);
	for (int i = 0; i < rounds; i++) {
		int src = open("advice.txt", O_RDONLY);
		int dst = open("copy.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (src < 0 || dst < 0) {
			perror("open");
			return 1;
		}
		int r = ioctl(dst, FICLONE, src);
		if (r == 0)
			printf("round %d: FICLONE succeeded\n", i);
		int e = posix_fadvise(src, 0, 0, POSIX_FADV_SEQUENTIAL);
		if (e != 0)
			printf("round %d: fadvise %s\n", i, strerror(e));
		close(dst);
		close(src);
	}
	fd = open("advice.txt", O_RDONLY);
	int n = -1;
	int r = ioctl(fd, FIONREAD, &n);
	printf("file: FIONREAD %d %d\n", r, n);
	advise("file", fd, 0, POSIX_FADV_WILLNEED);
	advise("file", fd, -1, POSIX_FADV_NORMAL);
	advise("file", fd, 0, 99);
	close(fd);
	fd = open("advice.txt", O_PATH);
	r = ioctl(fd, FICLONE, 0);
	printf("O_PATH: FICLONE %d %s\n", r, strerror(r < 0 ? errno : 0));
	advise("O_PATH", fd, 0, POSIX_FADV_SEQUENTIAL);
	close(fd);
	int p[2];
	if (pipe(p) < 0) {
		perror("pipe");
		return 1;
	}
	advise("pipe", p[0], 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}
