// pwloop N [thread]: what tar x does per archive member to map ids to names, N
// times: open /etc/passwd and /etc/group, fstat, read to the end, close.
// Prints a checksum of what it read and saw, so that a run under do can be
// compared with a native one. With "thread", an idle second thread runs
// meanwhile (the read cache then answers nothing: the server leases
// nothing either).
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long sum;

static void slurp(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		perror("fstat");
		exit(1);
	}
	sum += st.st_size + st.st_mode + st.st_nlink;
	char buf[1024];
	ssize_t n;
	long total = 0;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			sum = sum * 31 + (unsigned char)buf[i];
		total += n;
	}
	if (n < 0 || total != st.st_size) {
		fprintf(stderr, "%s: read %ld of %ld bytes\n", path, total, (long)st.st_size);
		exit(1);
	}
	close(fd);
}

static void *idle(void *arg) {
	for (;;)
		pause();
	return arg;
}

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t th;
	if (argc > 2 && pthread_create(&th, NULL, idle, NULL) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		slurp("/etc/passwd");
		slurp("/etc/group");
	}
	printf("%d rounds, checksum %lx\n", n, sum);
	return 0;
}
