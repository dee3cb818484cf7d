// lentread MODE FILE: reads of a file larger than a read lease's window,
// which under do the client answers through a host fd the server lends
// (sentry/client/lendfd.go). FILE holds byte (i*7 + (i>>10)) & 0xff at
// offset i and is at least 1.2 MB long.
//
//   scatter   reads 4 KiB at 96 offsets spread over the file, as a linker
//             reads an archive (lseek and read, pread, readv), checks
//             each against the pattern and prints a sum of what it read.
//   selfwrite holds FILE open for reading and for writing: reads far
//             apart, then 20 times writes new bytes at one offset
//             through the other description and reads them back (the
//             write behind's reply revokes the lease; a read through the
//             lent fd before it would be answered from the lease).
//             FILE is changed.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static unsigned char pattern(long i) { return (unsigned char)((i * 7 + (i >> 10)) & 0xff); }

static void check(const unsigned char *b, long off, long n) {
	for (long i = 0; i < n; i++) {
		if (b[i] != pattern(off + i)) {
			printf("byte %ld: %d, want %d\n", off + i, b[i], pattern(off + i));
			exit(1);
		}
	}
}

static void scatter(const char *path) {
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	off_t size = lseek(fd, 0, SEEK_END);
	unsigned char b[4096];
	unsigned long sum = 0;
	for (int i = 0; i < 96; i++) {
		long off = (long)((i * 2654435761UL) % (unsigned long)(size - sizeof b));
		ssize_t n;
		switch (i % 3) {
		case 0:
			if (lseek(fd, off, SEEK_SET) != off) {
				perror("lseek");
				exit(1);
			}
			n = read(fd, b, sizeof b);
			break;
		case 1:
			n = pread(fd, b, sizeof b, off);
			break;
		default: {
			struct iovec iov[2] = {{b, 1000}, {b + 1000, sizeof b - 1000}};
			n = preadv(fd, iov, 2, off);
		}
		}
		if (n != (ssize_t)sizeof b) {
			printf("read %d at %ld: %zd\n", i, off, n);
			exit(1);
		}
		check(b, off, n);
		for (int j = 0; j < n; j++)
			sum = sum * 31 + b[j];
	}
	// The offset the reads left, as the next reader of the fd sees it.
	printf("scatter: sum %lu, offset %ld\n", sum, (long)lseek(fd, 0, SEEK_CUR));
}

static void selfwrite(const char *path) {
	int r = open(path, O_RDONLY), w = open(path, O_RDWR);
	if (r < 0 || w < 0) {
		perror(path);
		exit(1);
	}
	const long off = 900000;
	char b[16];
	// Reads far apart: beyond the lease's windows, through the lent fd.
	for (long o = 0; o < 8 * 150000; o += 150000) {
		if (pread(r, b, 8, o) != 8) {
			perror("pread");
			exit(1);
		}
	}
	for (int i = 0; i < 20; i++) {
		if (pread(r, b, 8, (i * 2654435761UL) % 1000000) != 8) {
			perror("pread");
			exit(1);
		}
		char want[9];
		snprintf(want, sizeof want, "v%07d", i);
		if (pwrite(w, want, 8, off) != 8) {
			perror("pwrite");
			exit(1);
		}
		if (pread(r, b, 8, off) != 8 || memcmp(b, want, 8) != 0) {
			printf("step %d: read %.8s after writing %s\n", i, b, want);
			exit(1);
		}
	}
	printf("selfwrite: 20 steps\n");
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: lentread scatter|selfwrite FILE\n");
		return 2;
	}
	if (strcmp(argv[1], "scatter") == 0)
		scatter(argv[2]);
	else if (strcmp(argv[1], "selfwrite") == 0)
		selfwrite(argv[2]);
	else
		return 2;
	return 0;
}
