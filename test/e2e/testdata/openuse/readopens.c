// readopens DIR N: opens DIR/r0..r(N-1), each fstat'ed and read to its
// end (as Python reads each module), then opens and closes
// DIR/n0..n(N-1) without reading them, then reads DIR/s0..s(N-1) as the
// first; prints the bytes read in each phase.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static long phase(const char *dir, char prefix, int n, int read_them) {
	char path[4096], buf[8192];
	long total = 0;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%c%d", dir, prefix, i);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(path);
			exit(1);
		}
		if (read_them) {
			struct stat st;
			if (fstat(fd, &st) < 0) {
				perror("fstat");
				exit(1);
			}
			ssize_t r;
			while ((r = read(fd, buf, sizeof buf)) > 0)
				total += r;
			if (r < 0) {
				perror("read");
				exit(1);
			}
			if (total % 1024 != 0 || st.st_size != 1024) {
				fprintf(stderr, "%s: size %ld\n", path, (long)st.st_size);
				exit(1);
			}
		}
		close(fd);
	}
	return total;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: readopens DIR N\n");
		return 2;
	}
	int n = atoi(argv[2]);
	long a = phase(argv[1], 'r', n, 1);
	long b = phase(argv[1], 'n', n, 0);
	long c = phase(argv[1], 's', n, 1);
	printf("read %ld, opened %d unread (%ld), read %ld\n", a, n, b, c);
	return 0;
}
