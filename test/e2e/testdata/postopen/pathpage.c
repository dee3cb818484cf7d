// pathpage: paths the kernel reads from the application's memory up to
// their NUL, placed where a reader that reads too far or in the wrong
// chunks would fail: ending at the last byte of a page followed by an
// unmapped one, crossing a page boundary, long (up to PATH_MAX - 1),
// and one that runs into the unmapped page (EFAULT). Prints each
// result; run in a scratch directory and compared with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char *page;

// at copies s so that its NUL is the byte before end (end bytes into
// the two mapped pages) and returns where it starts.
static char *at(const char *s, size_t end) {
	size_t n = strlen(s) + 1;
	char *p = page + end - n;
	memcpy(p, s, n);
	return p;
}

static void try(const char *what, const char *path) {
	errno = 0;
	int fd = open(path, O_RDONLY);
	printf("%-28s %s\n", what, fd >= 0 ? "ok" : strerror(errno));
	if (fd >= 0)
		close(fd);
	struct stat st;
	errno = 0;
	printf("%-28s %s\n", "  stat", stat(path, &st) == 0 ? "ok" : strerror(errno));
}

int main(void) {
	long ps = sysconf(_SC_PAGESIZE);
	page = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED || munmap(page + 2 * ps, ps) != 0)
		return 1;
	int fd = open("file", O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) != 0)
		return 1;
	try("ends at the unmapped page", at("file", 2 * ps));
	try("ends there, missing", at("nofile", 2 * ps));
	try("crosses a page", at("./././././file", ps + 5));
	// ././ ... /file, 4095 bytes with its NUL at the end of the mapping.
	static char longp[PATH_MAX];
	size_t n = 0;
	while (n + 2 < PATH_MAX - 1 - 5)
		n += (size_t)snprintf(longp + n, sizeof longp - n, "./");
	snprintf(longp + n, sizeof longp - n, "file");
	try("long", at(longp, 2 * ps));
	// No NUL before the unmapped page.
	memset(page + 2 * ps - 8, 'a', 8);
	try("runs into the unmapped page", page + 2 * ps - 8);
	unlink("file");
	return 0;
}
