// maps: reads files through private mappings, as a program's loader and
// mmap users do, around changes made with write(2) and through a shared
// mapping, and prints a checksum of what each mapping showed. "pre", a
// file the test made before, is mapped, then changed (on an overlay, the
// change copies it up), then mapped again.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long sum(const unsigned char *p, size_t n) {
	unsigned long h = 1469598103934665603UL;
	for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211UL;
	return h;
}

static void die(const char *what) {
	perror(what);
	exit(1);
}

// mapsum maps path private and read-only and prints the checksum of its
// n bytes from off.
static void mapsum(const char *label, const char *path, size_t off, size_t n) {
	int fd = open(path, O_RDONLY);
	if (fd < 0) die("open");
	struct stat st;
	if (fstat(fd, &st) < 0) die("fstat");
	unsigned char *p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) die("mmap");
	close(fd);
	printf("%s: size %ld sum %lx\n", label, (long)st.st_size, sum(p + off, n));
	munmap(p, st.st_size);
}

int main(void) {
	const size_t size = (9 << 20) + 123; // three 4 MiB windows and a tail
	unsigned char *buf = malloc(size);
	for (size_t i = 0; i < size; i++) buf[i] = (unsigned char)(i * 7 + i / 4096);
	int fd = open("big", O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0) die("open big");
	for (size_t off = 0; off < size; off += 65536) {
		size_t n = size - off < 65536 ? size - off : 65536;
		if (write(fd, buf + off, n) != (ssize_t)n) die("write big");
	}
	close(fd);
	mapsum("written", "big", 0, size);
	mapsum("tail", "big", size - 5000, 5000);

	// Changed with write(2) while nothing maps it, then mapped again.
	fd = open("big", O_WRONLY);
	if (fd < 0) die("open big again");
	memset(buf, 'x', 70000);
	if (pwrite(fd, buf, 70000, (5 << 20) - 1000) != 70000) die("pwrite");
	close(fd);
	mapsum("rewritten", "big", 0, size);

	// Changed through a shared mapping, then mapped private.
	fd = open("big", O_RDWR);
	if (fd < 0) die("open big rw");
	unsigned char *s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED) die("mmap shared");
	memset(s + (8 << 20), 'y', 4096);
	if (msync(s, size, MS_SYNC) < 0) die("msync");
	munmap(s, size);
	close(fd);
	mapsum("shared", "big", 0, size);

	// Grown with write(2) past its mapped size, then mapped again.
	fd = open("big", O_WRONLY | O_APPEND);
	if (fd < 0) die("open big append");
	if (write(fd, "appended", 8) != 8) die("append");
	close(fd);
	mapsum("grown", "big", size - 100, 108);

	mapsum("pre", "pre", 0, 1 << 20);
	fd = open("pre", O_WRONLY);
	if (fd < 0) die("open pre");
	if (pwrite(fd, "changed", 7, 300000) != 7) die("pwrite pre");
	close(fd);
	mapsum("pre changed", "pre", 0, 1 << 20);
	return 0;
}
