// open_emfile: an open(O_CREAT) with every fd below RLIMIT_NOFILE taken
// is EMFILE and creates no file (Linux takes the fd before it walks, the
// server's creation-first open did not); mkdir needs no fd; the next
// open gets the freed lowest fd with its O_CLOEXEC.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
	struct rlimit rl = {8, 8};
	setrlimit(RLIMIT_NOFILE, &rl);
	int last = -1;
	for (;;) { int fd = open(".", O_RDONLY); if (fd < 0) break; last = fd; }
	printf("last fd %d\n", last);
	int r = open("newfile", O_CREAT | O_WRONLY, 0644);
	printf("open O_CREAT full: %d %s\n", r, r < 0 ? strerror(errno) : "");
	r = mkdir("newdir", 0755);
	printf("mkdir full: %d\n", r);
	struct stat st;
	printf("newfile exists: %d\n", stat("newfile", &st) == 0);
	r = open("missing/x", O_RDONLY);
	printf("open missing full: %d %s\n", r, r < 0 ? strerror(errno) : "");
	close(last);
	r = open("newfile2", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	printf("open: %d cloexec %d\n", r, fcntl(r, F_GETFD));
	return 0;
}
