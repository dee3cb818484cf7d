// openloop ROUNDS: opens, fstats, reads and closes the same two files
// again and again, with a dup and a reopen in each round, the way tar
// opens /etc/passwd and ld.so its libraries: once the client's path cache
// holds an open's answer, the opens are posted with the fd the client
// chose, and fstat and read answered from the file's read lease before
// the open's reply. Every fd number, size and byte read goes into a
// checksum (and every 1000th round's fds into progress.txt), so a server
// killed with posted opens, lseeks and closes in flight must come back
// with the same fds at the same offsets for the output to match a native
// run.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long sum;

static void mix(const void *p, size_t n) {
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		sum = sum * 31 + b[i];
}

static void mixn(long v) { mix(&v, sizeof v); }

static void fill(const char *name, int seed) {
	FILE *f = fopen(name, "w");
	if (!f) {
		perror(name);
		exit(1);
	}
	for (int i = 0; i < 60; i++)
		fprintf(f, "%s line %d: %08x\n", name, i, (unsigned)(i * 2654435761u + seed));
	fclose(f);
}

static int xopen(const char *name, int flags) {
	int fd = open(name, flags);
	if (fd < 0) {
		perror(name);
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 5000;
	fill("p.txt", 1);
	fill("q.txt", 2);
	char buf[512];
	for (int r = 0; r < rounds; r++) {
		int a = xopen("p.txt", O_RDONLY | O_CLOEXEC);
		int b = xopen("q.txt", O_RDONLY);
		struct stat st;
		if (fstat(a, &st) != 0) {
			perror("fstat");
			return 1;
		}
		mixn(st.st_size);
		ssize_t n;
		while ((n = read(a, buf, sizeof buf)) > 0)
			mix(buf, n);
		if (n < 0) {
			perror("read");
			return 1;
		}
		n = pread(b, buf, 64, r % 1000);
		mix(buf, n > 0 ? n : 0);
		int d = dup(b);
		close(a);
		int c = xopen("p.txt", O_RDONLY); // a's fd again
		if (lseek(c, 100 + r % 50, SEEK_SET) < 0) {
			perror("lseek");
			return 1;
		}
		n = read(c, buf, 20);
		mix(buf, n > 0 ? n : 0);
		n = read(d, buf, 30); // b's offset, shared with d
		mix(buf, n > 0 ? n : 0);
		mixn(lseek(b, 0, SEEK_CUR));
		mixn(a), mixn(b), mixn(c), mixn(d);
		close(b);
		close(c);
		close(d);
		if (r % 1000 == 0) {
			FILE *p = fopen("progress.txt", "a");
			fprintf(p, "round %d: fds %d %d %d %d, checksum %lx\n", r, a, b, c, d, sum);
			fclose(p);
		}
	}
	printf("%d rounds, checksum %lx\n", rounds, sum);
	return 0;
}
