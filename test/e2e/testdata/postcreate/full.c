// full DIR: creates DIR/f0, DIR/f1, ... as tar does (an unlink that
// finds the name missing, then open with O_CREAT|O_EXCL), each followed
// by an fstat and a close, until one fails: on a file system with no
// inode left, natively the open fails with ENOSPC; a sandbox that posted
// the creation told the application an fd, and the fstat of it fails
// with EBADF (docs/COMPATIBILITY.md, "Pipelined calls").
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2)
		return 2;
	for (int k = 0; k < 100000; k++) {
		char p[4096];
		snprintf(p, sizeof p, "%.4000s/f%d", argv[1], k);
		unlink(p);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) {
			printf("create %d: %s\n", k, strerror(errno));
			return 0;
		}
		struct stat st;
		if (fstat(fd, &st) < 0) {
			printf("create %d: fd %d, fstat: %s\n", k, fd, strerror(errno));
			return 0;
		}
		if (close(fd) < 0) {
			printf("create %d: close: %s\n", k, strerror(errno));
			return 0;
		}
	}
	printf("no create failed\n");
	return 1;
}
