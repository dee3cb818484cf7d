// readthreads: a process with a second thread (blocked reading a pipe)
// reads a file as Go's os.ReadFile and a compiler do: open, fstat,
// reads to the end, then lseek back, pread and read again; a checksum
// of what it read and the offsets are printed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int p[2];

static void *reader(void *arg) {
	char c;
	(void)arg;
	return read(p[0], &c, 1) == 1 ? NULL : (void *)1;
}

static unsigned long sum(const char *b, ssize_t n, unsigned long s) {
	for (ssize_t i = 0; i < n; i++)
		s = s * 31 + (unsigned char)b[i];
	return s;
}

int main(int argc, char **argv) {
	pthread_t th;
	if (argc != 2 || pipe(p) != 0 || pthread_create(&th, NULL, reader, NULL) != 0) {
		perror("setup");
		return 1;
	}
	char buf[4096];
	for (int round = 0; round < 3; round++) {
		int f = open(argv[1], O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (f < 0 || fstat(f, &st) != 0) {
			perror("open");
			return 1;
		}
		unsigned long s = 0;
		ssize_t n, total = 0;
		int reads = 0;
		while ((n = read(f, buf, sizeof buf)) > 0) {
			s = sum(buf, n, s);
			total += n;
			reads++;
		}
		printf("round %d: size %lld read %zd in %d reads, sum %lx, at %lld\n", round, (long long)st.st_size,
		       total, reads, s, (long long)lseek(f, 0, SEEK_CUR));
		long long at = lseek(f, 100, SEEK_SET);
		n = read(f, buf, 10);
		printf("lseek 100: %lld, read %zd %.10s, at %lld\n", at, n, buf, (long long)lseek(f, 0, SEEK_CUR));
		n = pread(f, buf, 8, 5000);
		printf("pread 5000: %zd %.8s, at %lld\n", n, buf, (long long)lseek(f, 0, SEEK_CUR));
		at = lseek(f, 0, SEEK_END);
		n = read(f, buf, 10);
		printf("end: %lld, read %zd\n", at, n);
		close(f);
	}
	if (write(p[1], "x", 1) != 1 || pthread_join(th, NULL) != 0) {
		perror("join");
		return 1;
	}
	return 0;
}
