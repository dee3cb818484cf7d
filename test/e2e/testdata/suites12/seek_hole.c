// seek_hole: lseek SEEK_DATA and SEEK_HOLE find a sparse file's data and
// holes as the host's file system keeps them (they were the generic
// answer: all data up to the size), from a written-behind descriptor and
// from a read-only one, and set the offset; past the end and negative
// offsets are ENXIO (LTP lseek11).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MIB (1 << 20)

static void seek(const char *what, int fd, off_t off, int whence) {
	off_t r = lseek(fd, off, whence);
	if (r < 0) {
		printf("%s %lld: %s\n", what, (long long)off, strerror(errno));
		return;
	}
	char buf[8] = "";
	ssize_t n = read(fd, buf, 6);
	buf[n > 0 ? n : 0] = 0;
	printf("%s %lld: %lld, reads \"%s\"\n", what, (long long)off, (long long)r, buf);
}

static void all(int fd) {
	static const off_t offs[] = {0, 3, 4096, MIB - 1, MIB, MIB + 3, 2 * MIB, 3 * MIB - 1, 3 * MIB, 4 * MIB, -1};
	for (unsigned i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		seek("data", fd, offs[i], SEEK_DATA);
		seek("hole", fd, offs[i], SEEK_HOLE);
	}
}

int main(void) {
	int fd = open("sparse", O_CREAT | O_RDWR | O_TRUNC, 0644);
	write(fd, "data01", 6);
	pwrite(fd, "data02", 6, MIB);
	ftruncate(fd, 3 * MIB);
	pwrite(fd, "data03", 6, 3 * MIB - 6);
	// Right after the writes, from the descriptor that wrote them.
	all(fd);
	close(fd);
	fd = open("sparse", O_RDONLY);
	all(fd);
	close(fd);
	fd = open("empty", O_CREAT | O_RDWR, 0644);
	seek("empty data", fd, 0, SEEK_DATA);
	seek("empty hole", fd, 0, SEEK_HOLE);
	close(fd);
	return 0;
}
