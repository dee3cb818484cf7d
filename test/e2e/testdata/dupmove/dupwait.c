// dupwait: find's dup of the fd of the directory it is in, closed after
// a pause longer than the client's post delay (a directory's entries
// handled one by one on a loaded machine): rounds of
// fcntl(dir, F_DUPFD_CLOEXEC, 0), a sleep of 3 ms, and the dup's close.
// Each dup must name the directory while it is open.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	int dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0) {
		perror("open");
		return 1;
	}
	struct stat want;
	if (fstat(dir, &want) != 0) {
		perror("fstat");
		return 1;
	}
	for (int i = 0; i < rounds; i++) {
		int d = fcntl(dir, F_DUPFD_CLOEXEC, 0);
		if (d < 0) {
			perror("fcntl");
			return 1;
		}
		struct timespec ts = {0, 3000000};
		nanosleep(&ts, NULL);
		if (close(d) != 0) {
			perror("close");
			return 1;
		}
	}
	struct stat got;
	int d = fcntl(dir, F_DUPFD_CLOEXEC, 0);
	if (d < 0 || fstat(d, &got) != 0 || got.st_ino != want.st_ino) {
		printf("the last dup names another file\n");
		return 1;
	}
	printf("%d rounds\n", rounds);
	return 0;
}
