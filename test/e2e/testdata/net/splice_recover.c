// Bytes moved by splice, tee, copy_file_range and sendfile (not in any call's
// inputs) held in pipes and a file across a kill of the remote sentry
// (the test kills it while this program waits for the file "go"; phase1
// tells it the state is set up).
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "common.h"

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("phase1");
	int src = open("recover.src", O_RDWR | O_CREAT | O_TRUNC, 0644);
	TRYN("write src", write(src, "spliced bytes, teed and copied", 30));
	int p[2], q[2];
	TRY("pipe p", pipe(p));
	TRY("pipe q", pipe(q));
	loff_t off = 0;
	TRYN("splice file->pipe", splice(src, &off, p[1], NULL, 14, 0));
	TRYN("tee", tee(p[0], q[1], 100, 0));
	int dst = open("recover.dst", O_RDWR | O_CREAT | O_TRUNC, 0644);
	off = 15;
	TRYN("copy_file_range", copy_file_range(src, &off, dst, NULL, 15, 0));
	off_t soff = 0;
	TRYN("sendfile", sendfile(dst, src, &soff, 7));

	close(open("phase1", O_CREAT | O_WRONLY, 0644));
	struct stat st;
	while (stat("go", &st) < 0) nanosleep(&(struct timespec){0, 10000000}, NULL);

	char buf[64] = {0};
	TRYN("read p", read(p[0], buf, sizeof buf - 1));
	printf("p: %s\n", buf);
	memset(buf, 0, sizeof buf);
	TRYN("read q", read(q[0], buf, sizeof buf - 1));
	printf("q: %s\n", buf);
	memset(buf, 0, sizeof buf);
	TRYN("pread dst", pread(dst, buf, sizeof buf - 1, 0));
	printf("dst: %s\n", buf);
	TRYN("dst offset", lseek(dst, 0, SEEK_CUR));
	unlink("recover.src");
	unlink("recover.dst");
	unlink("phase1");
	unlink("go");
	return 0;
}
