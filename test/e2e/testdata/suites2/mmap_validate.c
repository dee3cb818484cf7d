// MAP_SHARED_VALIDATE: a file mapping with a flag outside Linux's legacy
// set is EOPNOTSUPP, an anonymous one EINVAL, MAP_HUGETLB of a file not on
// hugetlbfs EINVAL, a bad fd EBADF first (LTP mmap20).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void try(const char *what, int flags, int fd) {
	void *p = mmap(NULL, 4096, PROT_READ, flags, fd, 0);
	printf("%s %#x: %s\n", what, flags, p == MAP_FAILED ? strerror(errno) : "ok");
	if (p != MAP_FAILED)
		munmap(p, 4096);
}

int main(void) {
	int fd = open("mmap_validate.tmp", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 22) != 0) {
		perror("setup");
		return 1;
	}
	for (int b = 2; b < 32; b++) {
		if (1u << b == MAP_FIXED)
			continue; // at address 0: the host's mmap_min_addr decides
		try("file", 3 | (1u << b), fd);
	}
	try("file", 3, fd);
	try("file private hugetlb", MAP_PRIVATE | MAP_HUGETLB, fd);
	try("anonymous", 3 | MAP_ANONYMOUS, -1);
	try("bad fd", 3 | MAP_SYNC, 99);
	unlink("mmap_validate.tmp");
	return 0;
}
