// memfd_create: a nameless file with a name in /proc, seals, a shared
// mapping inherited across fork.
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	TRY("memfd_create", fd);
	TRYN("F_GETFD", fcntl(fd, F_GETFD));
	char link[64], target[128];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n >= 0) target[n] = 0;
	printf("link: %s\n", n >= 0 ? target : "?");
	struct stat st;
	TRY("fstat", fstat(fd, &st));
	printf("mode %o size %ld\n", st.st_mode, (long)st.st_size);
	TRYN("write", write(fd, "hello memfd", 11));
	TRY("ftruncate", ftruncate(fd, 4096));
	char buf[32] = {0};
	TRYN("pread", pread(fd, buf, 11, 0));
	printf("read: %s\n", buf);

	// A shared mapping: a child's store is the parent's.
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TRY("mmap", p == MAP_FAILED ? -1 : 0);
	pid_t pid = fork();
	if (pid == 0) {
		memcpy(p, "child", 5);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("after child: %.11s\n", p);
	TRY("munmap", munmap(p, 4096));
	memset(buf, 0, sizeof buf);
	TRYN("pread after", pread(fd, buf, 11, 0));
	printf("read: %s\n", buf);

	// Seals.
	TRYN("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	TRY("F_ADD_SEALS shrink|grow", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
	TRYN("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	TRY("ftruncate smaller", ftruncate(fd, 100));
	TRY("ftruncate larger", ftruncate(fd, 8192));
	TRY("ftruncate same", ftruncate(fd, 4096));
	TRYN("pwrite past end", pwrite(fd, "x", 1, 4096));
	TRYN("pwrite inside", pwrite(fd, "H", 1, 0));
	TRY("F_ADD_SEALS write", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	TRYN("pwrite sealed", pwrite(fd, "h", 1, 0));
	TRY("mmap shared writable sealed", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	TRY("mmap shared read-only", p == MAP_FAILED ? -1 : 0);
	if (p != MAP_FAILED) printf("mapped: %.11s\n", p);
	TRY("mprotect writable sealed", mprotect(p, 4096, PROT_READ | PROT_WRITE));
	TRY("F_ADD_SEALS seal", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
	TRY("F_ADD_SEALS after seal", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	TRYN("F_GET_SEALS", fcntl(fd, F_GET_SEALS));
	TRY("F_ADD_SEALS bad", fcntl(fd, F_ADD_SEALS, 0x4000));

	// Without MFD_ALLOW_SEALING the file is sealed against seals.
	int fd2 = memfd_create("nosealing", 0);
	TRY("memfd_create 2", fd2);
	TRYN("F_GETFD 2", fcntl(fd2, F_GETFD));
	TRYN("F_GET_SEALS 2", fcntl(fd2, F_GET_SEALS));
	TRY("F_ADD_SEALS 2", fcntl(fd2, F_ADD_SEALS, F_SEAL_WRITE));
	// A read-only description may not add seals.
	int fd3 = memfd_create("ro", MFD_ALLOW_SEALING);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd3);
	int ro = open(link, O_RDONLY);
	TRY("open ro", ro);
	TRY("F_ADD_SEALS ro", fcntl(ro, F_ADD_SEALS, F_SEAL_WRITE));
	TRYN("F_GET_SEALS ro", fcntl(ro, F_GET_SEALS));
	// Seals belong to the file: every description sees them.
	TRY("F_ADD_SEALS fd3", fcntl(fd3, F_ADD_SEALS, F_SEAL_GROW));
	TRYN("F_GET_SEALS ro after", fcntl(ro, F_GET_SEALS));

	// Errors.
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	TRY("long name", memfd_create(longname, 0));
	TRY("bad flags", memfd_create("x", 0x100));
	TRY("seals on a pipe", ({ int pf[2]; pipe(pf); fcntl(pf[0], F_GET_SEALS); }));
	return 0;
}
