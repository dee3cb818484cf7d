// relist.c: a directory listed to its end is answered 0 by the client
// (sentry/client/direof.go); after rewinddir (an lseek) and after a
// name is made, the listing starts over and finds the new name, as on
// Linux. It prints the counts; the test compares them with a native run.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int count(DIR *d) {
	int n = 0;
	while (readdir(d) != NULL)
		n++;
	return n;
}

int main(void) {
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
	return 0;
}
