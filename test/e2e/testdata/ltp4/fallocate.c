// fallocate(2) (LTP fallocate01-03, mremap06, memfd_create01): sizes,
// holes, Linux's errnos, memfd seals, a shared mapping seeing a punched
// hole, RLIMIT_FSIZE.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static void try(const char *what, int fd, int mode, off_t off, off_t len) {
	int r = fallocate(fd, mode, off, len);
	int e = errno;
	struct stat st;
	long size = fstat(fd, &st) == 0 ? (long)st.st_size : -1;
	printf("%s: %d %s size %ld\n", what, r, r ? strerror(e) : "", size);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
	char buf[8192];
	memset(buf, 'x', sizeof(buf));
	write(fd, buf, sizeof(buf));
	try("extend", fd, 0, 8192, 8192);
	try("keep size", fd, FALLOC_FL_KEEP_SIZE, 16384, 65536);
	try("punch", fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 1000);
	pread(fd, buf, 8, 96);
	printf("after punch: %.8s\n", buf[4] ? "bad" : "ok");
	for (int i = 0; i < 8; i++)
		buf[i] = buf[i] ? buf[i] : '0';
	printf("bytes 96..104: %.8s\n", buf);
	try("punch without keep size", fd, FALLOC_FL_PUNCH_HOLE, 0, 10);
	try("punch and zero", fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 10);
	try("unknown mode", fd, 0x1000, 0, 10);
	try("zero length", fd, 0, 0, 0);
	try("negative offset", fd, 0, -1, 10);
	try("too large", fd, 0, 0x7fffffffffffff00LL, 0x1000);
	try("bad fd", 999, 0, 0, 1);
	int ro = open("f", O_RDONLY);
	try("read-only fd", ro, 0, 0, 1);
	int p[2];
	pipe(p);
	try("pipe", p[1], 0, 0, 1);
	int null = open("/dev/null", O_WRONLY);
	try("/dev/null", null, 0, 0, 1);

	// A shared mapping sees the hole punched through the fd.
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	m[5000] = 'M';
	try("punch mapped", fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096);
	printf("mapped byte after punch: %d\n", m[5000]);
	munmap(m, 8192);

	// memfd seals.
	int mfd = memfd_create("m", MFD_ALLOW_SEALING);
	try("memfd extend", mfd, 0, 0, 4096);
	fcntl(mfd, F_ADD_SEALS, F_SEAL_GROW);
	try("memfd sealed grow", mfd, 0, 0, 8192);
	try("memfd sealed grow, within", mfd, 0, 0, 4096);
	try("memfd sealed grow, keep size", mfd, FALLOC_FL_KEEP_SIZE, 0, 8192);
	fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE);
	try("memfd sealed write, punch", mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 10);

	// RLIMIT_FSIZE.
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = {20000, 20000};
	setrlimit(RLIMIT_FSIZE, &rl);
	try("beyond RLIMIT_FSIZE", fd, 0, 0, 30000);
	try("beyond RLIMIT_FSIZE, keep size", fd, FALLOC_FL_KEEP_SIZE, 0, 30000);
	close(fd);
	unlink("f");
	return 0;
}
