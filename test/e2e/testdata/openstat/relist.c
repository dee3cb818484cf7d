// relist.c: a directory listed to its end is answered 0 by the client
// (sentry/client/direof.go); after rewinddir (an lseek) and after a
// name is made, the listing starts over and finds the new name, as on
// Linux. It prints the counts; the test compares them with a native run.
//
// usage: relist [threads]
//   threads: a second thread lists d through a description of its own,
//            rewinding it, round after round while the first lists (a
//            process of several threads, as the go command's ReadDir)
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int done;

static int count(DIR *d) {
	int n = 0;
	while (readdir(d) != NULL)
		n++;
	return n;
}

static void *lister(void *arg) {
	DIR *d = opendir("d");
	while (d != NULL && !atomic_load(&done)) {
		count(d);
		rewinddir(d);
		usleep(200);
	}
	if (d != NULL)
		closedir(d);
	return arg;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (mkdir("d", 0755) != 0) {
		perror("mkdir");
		return 1;
	}
	for (int i = 0; i < 5; i++) {
		char p[32];
		snprintf(p, sizeof p, "d/f%d", i);
		close(open(p, O_WRONLY | O_CREAT, 0644));
	}
	pthread_t th;
	int threads = argc > 1 && strcmp(argv[1], "threads") == 0;
	if (threads && pthread_create(&th, NULL, lister, NULL) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	for (int r = 0; r < 20; r++) {
		DIR *d = opendir("d");
		int a = count(d), b = count(d); // b: at the end already
		rewinddir(d);
		int c = count(d);
		char p[32];
		snprintf(p, sizeof p, "d/g%d", r);
		close(open(p, O_WRONLY | O_CREAT, 0644));
		rewinddir(d);
		int e = count(d);
		printf("round %d: %d %d %d %d\n", r, a, b, c, e);
		closedir(d);
	}
	if (threads) {
		atomic_store(&done, 1);
		pthread_join(th, NULL);
	}
	return 0;
}
