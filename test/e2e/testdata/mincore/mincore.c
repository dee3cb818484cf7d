// mincore: which pages are resident. Anonymous memory is resident once
// touched, populated or locked and not after MADV_DONTNEED; a file's
// pages are resident while the page cache holds them, whether or not
// this process touched them (a private mapping's too, until written).
//
// With the argument "evicted", it also maps a file whose pages it has
// evicted from the page cache (POSIX_FADV_DONTNEED), which the sandbox
// does not compare with Linux (mincore_test.go says why).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 8

static long ps;

static void show(const char *what, void *addr, size_t pages) {
	unsigned char vec[PAGES];
	memset(vec, 7, sizeof(vec));
	if (mincore(addr, pages * ps, vec) != 0) {
		printf("%s: mincore: %s\n", what, strerror(errno));
		return;
	}
	printf("%s:", what);
	for (size_t i = 0; i < pages; i++)
		printf(" %d", vec[i] & 1);
	printf("\n");
}

static char *anon(int flags) {
	char *m = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		_exit(1);
	}
	return m;
}

// file writes a file of PAGES pages, each filled with its number, and
// returns it open.
static int file(const char *name) {
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror("open");
		_exit(1);
	}
	char page[ps];
	for (int i = 0; i < PAGES; i++) {
		memset(page, 'a' + i, ps);
		if (write(fd, page, ps) != ps) {
			perror("write");
			_exit(1);
		}
	}
	return fd;
}

int main(int argc, char **argv) {
	ps = sysconf(_SC_PAGESIZE);

	char *m = anon(0);
	show("anonymous, untouched", m, PAGES);
	m[1 * ps] = 1;
	m[3 * ps + 100] = 1;
	m[6 * ps + ps - 1] = 1;
	show("pages 1 3 6 written", m, PAGES);
	volatile char sink = m[4 * ps];
	(void)sink;
	show("page 4 read", m, PAGES);
	if (madvise(m, PAGES * ps, MADV_DONTNEED) != 0)
		perror("madvise");
	show("after MADV_DONTNEED", m, PAGES);
	m[2 * ps] = 1;
	if (madvise(m + 2 * ps, ps, MADV_DONTNEED) != 0)
		perror("madvise");
	show("page 2 written, then dropped", m, PAGES);
	// A read(2) into the buffer: the kernel's store, not the program's.
	int zero = open("/dev/zero", O_RDONLY);
	if (zero < 0 || read(zero, m + 5 * ps, 2 * ps) != 2 * ps)
		perror("read /dev/zero");
	show("pages 5 6 read(2) into", m, PAGES);
	munmap(m, PAGES * ps);

	m = anon(MAP_POPULATE);
	show("MAP_POPULATE", m, PAGES);
	munmap(m, PAGES * ps);

	m = anon(MAP_LOCKED);
	show("MAP_LOCKED", m, PAGES);
	munmap(m, PAGES * ps);

	m = anon(0);
	if (mlock(m + 2 * ps, 3 * ps) != 0)
		perror("mlock");
	show("pages 2-4 mlocked", m, PAGES);
	munlock(m, PAGES * ps);
	show("munlocked", m, PAGES);
	munmap(m, PAGES * ps);

	// Shared anonymous memory: a page a child touched is resident here.
	m = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	show("shared anonymous, untouched", m, PAGES);
	pid_t pid = fork();
	if (pid == 0) {
		m[7 * ps] = 1;
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	show("page 7 written by a child", m, PAGES);
	munmap(m, PAGES * ps);

	// A private mapping of a file just written: its pages are in the page
	// cache (in the sandbox, the client's: a file made here comes with its
	// bytes when mapped), resident before any fault, after a read fault,
	// and after a written page, the process's copy, is dropped.
	int fd = file("private");
	m = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap private");
		return 1;
	}
	show("private file, just written", m, PAGES);
	if (m[2 * ps] != 'c')
		printf("page 2 reads %c\n", m[2 * ps]);
	show("private file, page 2 read", m, PAGES);
	m[5 * ps] = 'x';
	show("private file, page 5 written", m, PAGES);
	if (madvise(m, PAGES * ps, MADV_DONTNEED) != 0)
		perror("madvise");
	show("private file, dropped", m, PAGES);
	munmap(m, PAGES * ps);
	// A shared mapping, twice the file's size: no page past its end.
	m = mmap(NULL, 2 * PAGES * ps, PROT_READ, MAP_SHARED, fd, 0);
	show("shared file", m, PAGES);
	unsigned char vec[2 * PAGES];
	if (mincore(m, 2 * PAGES * ps, vec) == 0) {
		int n = 0;
		for (int i = PAGES; i < 2 * PAGES; i++)
			n += vec[i] & 1;
		printf("pages past the end resident: %d\n", n);
	}
	munmap(m, 2 * PAGES * ps);
	close(fd);
	unlink("private");

	// A file written, then evicted from Linux's page cache: not resident
	// natively; the sandbox's cache does not follow the eviction.
	if (argc > 1 && strcmp(argv[1], "evicted") == 0) {
		fd = file("evicted");
		if (fsync(fd) != 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
			perror("fsync, fadvise");
		m = mmap(NULL, PAGES * ps, PROT_READ, MAP_SHARED, fd, 0);
		show("shared file, evicted", m, PAGES);
		munmap(m, PAGES * ps);
		close(fd);
		unlink("evicted");
	}
	return 0;
}
