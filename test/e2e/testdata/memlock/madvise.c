/* madvise's errors as mm/madvise.c gives them (LTP madvise02) and
 * MADV_POPULATE_READ/WRITE faulting the range in. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MADV_KEEPONFORK
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

#define PG 4096
#define LEN (16 * PG)

static void report(const char *what, int r) {
	printf("%s: %s\n", what, r < 0 ? strerror(errno) : "ok");
}

int main(void) {
	char buf[LEN];
	int fd = open("madvise.data", O_RDWR | O_CREAT | O_TRUNC, 0644);
	char *anon, *hole, *ro, *none, *fshared, *fpriv, *sanon, *locked, *past;
	unsigned char vec[16];
	int i, n;

	memset(buf, 'x', sizeof buf);
	if (fd < 0 || write(fd, buf, LEN) != LEN) {
		perror("madvise.data");
		return 1;
	}
	anon = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	hole = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole + 8 * PG, PG);
	ro = mmap(NULL, LEN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	none = mmap(NULL, LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fshared = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0);
	fpriv = mmap(NULL, LEN, PROT_READ, MAP_PRIVATE, fd, 0);
	sanon = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	locked = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0);
	if (mlock(locked, LEN) < 0)
		perror("mlock");
	/* Two pages of the file, mapped for four: the last two are past EOF. */
	past = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, fd, LEN - 2 * PG);

	report("unaligned", madvise(anon + 100, PG, MADV_NORMAL));
	report("unknown advice", madvise(anon, PG, 1212));
	report("zero length", madvise(anon, 0, MADV_NORMAL));
	report("wrapping", madvise(anon, (size_t)-PG, MADV_NORMAL));
	report("NORMAL hole", madvise(hole, LEN, MADV_NORMAL));
	report("WILLNEED hole", madvise(hole, LEN, MADV_WILLNEED));
	report("KEEPONFORK", madvise(anon, LEN, MADV_KEEPONFORK));
	report("SEQUENTIAL mapped", madvise(hole, 8 * PG, MADV_SEQUENTIAL));
	report("DONTNEED hole", madvise(hole, LEN, MADV_DONTNEED));
	report("REMOVE private anon", madvise(anon, LEN, MADV_REMOVE));
	report("REMOVE private file", madvise(fpriv, LEN, MADV_REMOVE));
	report("REMOVE locked", madvise(locked, LEN, MADV_REMOVE));
	report("DONTNEED locked", madvise(locked, LEN, MADV_DONTNEED));
	report("FREE shared file", madvise(fshared, LEN, MADV_FREE));
	report("FREE private file", madvise(fpriv, LEN, MADV_FREE));
	report("FREE shared anon", madvise(sanon, LEN, MADV_FREE));
	report("FREE locked", madvise(locked, LEN, MADV_FREE));
	report("FREE hole", madvise(hole, LEN, MADV_FREE));
	report("FREE private anon", madvise(anon, LEN, MADV_FREE));
	report("POPULATE_READ hole", madvise(hole, LEN, MADV_POPULATE_READ));
	report("POPULATE_READ none", madvise(none, LEN, MADV_POPULATE_READ));
	report("POPULATE_WRITE read-only", madvise(ro, LEN, MADV_POPULATE_WRITE));
	report("POPULATE_READ past EOF", madvise(past, 4 * PG, MADV_POPULATE_READ));
	report("POPULATE_READ file", madvise(fpriv, LEN, MADV_POPULATE_READ));
	report("POPULATE_WRITE anon", madvise(anon, LEN, MADV_POPULATE_WRITE));
	/* Populated pages are resident. */
	n = 0;
	if (mincore(anon, LEN, vec) == 0)
		for (i = 0; i < 16; i++)
			n += vec[i] & 1;
	printf("anon resident after POPULATE_WRITE: %d of 16\n", n);
	unlink("madvise.data");
	return 0;
}
