// pagemap: /proc/self/pagemap has an entry per page at (address / page
// size) * 8: present for the populated pages of a private anonymous and
// a shared file mapping (the file's with PM_FILE), not for the unmapped
// pages around them; an offset or size not a multiple of 8 is EINVAL;
// past the last address reads nothing (LTP mmap12; it did not exist).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int pm;

static void show(const char *what, char *base, int pages) {
	long ps = getpagesize();
	printf("%s:", what);
	for (int i = -1; i <= pages; i++) {
		uint64_t e = 0;
		off_t off = (uintptr_t)(base + i * ps) / ps * 8;
		if (pread(pm, &e, 8, off) != 8) {
			printf(" read: %s", strerror(errno));
			break;
		}
		printf(" %c%c", e >> 63 & 1 ? 'P' : '-', e >> 61 & 1 ? 'F' : '-');
	}
	printf("\n");
}

int main(void) {
	long ps = getpagesize();
	pm = open("/proc/self/pagemap", O_RDONLY);
	if (pm < 0) {
		printf("open: %s\n", strerror(errno));
		return 0;
	}
	char *a = mmap(NULL, 18 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	munmap(a, ps);
	munmap(a + 17 * ps, ps);
	show("anonymous", a + ps, 16);
	int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
	ftruncate(fd, 4 * ps);
	char *r = mmap(NULL, 6 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(r, 6 * ps);
	char *f = mmap(r + ps, 4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, 0);
	show("shared file", f, 4);
	uint64_t e;
	ssize_t n = pread(pm, &e, 8, 3);
	printf("odd offset: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	n = pread(pm, &e, 5, 0);
	printf("odd size: %zd %s\n", n, n < 0 ? strerror(errno) : "");
	n = pread(pm, &e, 8, (off_t)1 << 40);
	printf("past the end: %zd\n", n);
	return 0;
}
