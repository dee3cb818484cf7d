// A memfd with data, seals, a shared mapping (with a store not yet
// written back) and a description reopened through /proc, held across a
// kill of the remote sentry (the test kills it while this program waits
// for the file "go"; phase1 tells it the state is set up).
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "common.h"

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("phase1");
	int fd = memfd_create("kept", MFD_ALLOW_SEALING);
	TRY("memfd_create", fd);
	TRYN("write", write(fd, "before the kill", 15));
	TRY("ftruncate", ftruncate(fd, 4096));
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TRY("mmap", p == MAP_FAILED ? -1 : 0);
	memcpy(p + 100, "stored", 6);
	TRY("F_ADD_SEALS", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	int ro = open(link, O_RDONLY);
	TRY("open ro", ro);

	close(open("phase1", O_CREAT | O_WRONLY, 0644));
	struct stat st;
	while (stat("go", &st) < 0) nanosleep(&(struct timespec){0, 10000000}, NULL);

	char buf[32] = {0};
	TRYN("pread", pread(ro, buf, 15, 0));
	printf("read: %s\n", buf);
	memset(buf, 0, sizeof buf);
	TRYN("pread stored", pread(fd, buf, 6, 100));
	printf("stored: %s\n", buf);
	printf("mapped: %.15s\n", p);
	TRYN("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	TRYN("F_GET_SEALS ro", fcntl(ro, F_GET_SEALS));
	TRY("ftruncate sealed", ftruncate(fd, 10));
	TRYN("lseek", lseek(fd, 0, SEEK_CUR));
	char target[128];
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n >= 0) target[n] = 0;
	printf("link: %s\n", n >= 0 ? target : "?");
	memcpy(p, "after", 5);
	TRY("msync", msync(p, 4096, MS_SYNC));
	memset(buf, 0, sizeof buf);
	TRYN("pread after", pread(fd, buf, 15, 0));
	printf("read: %s\n", buf);
	unlink("phase1");
	unlink("go");
	return 0;
}
