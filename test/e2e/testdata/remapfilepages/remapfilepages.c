// remap_file_pages(2), as Linux 4.0+ emulates it: the pages of a shared
// mapping are mapped again from other offsets of the same file (a new
// MAP_SHARED|MAP_FIXED|MAP_POPULATE mapping of the vma's file with the
// vma's protection). A regular file, shared anonymous memory and a SysV
// segment; writes through a remapped page reach the file; a range across
// several vmas of the same file and flags; the address and size rounded
// down to pages; flags other than MAP_NONBLOCK ignored; a page beyond
// the file's end (SIGBUS); /proc/self/maps after the remaps (offsets
// relative to the mapping); and the refusals in Linux's order. Output is
// compared with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGES 4

static long ps;

static long rfp(void *start, size_t size, unsigned long prot, unsigned long pgoff, unsigned long flags) {
	return syscall(SYS_remap_file_pages, start, size, prot, pgoff, flags);
}

static void call(const char *what, void *start, size_t size, unsigned long prot, unsigned long pgoff, unsigned long flags) {
	long r = rfp(start, size, prot, pgoff, flags);
	printf("%s: %ld", what, r);
	if (r < 0)
		printf(" %s", strerrorname_np(errno));
	printf("\n");
}

// show prints the first byte of each page of m.
static void show(const char *what, const char *m, int pages) {
	printf("%s: ", what);
	for (int i = 0; i < pages; i++)
		putchar(m[i * ps]);
	printf("\n");
}

// maps prints /proc/self/maps' entries within [m, m+len): their range
// in pages from m, permissions and offset in pages.
static void maps(const char *what, char *m, size_t len) {
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL) {
		perror("maps");
		exit(1);
	}
	char line[512];
	printf("%s:", what);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long s, e, off;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s %lx", &s, &e, perms, &off) != 4)
			continue;
		if (s >= (uintptr_t)m + len || e <= (uintptr_t)m)
			continue;
		printf(" [%ld,%ld) %s @%ld", (long)((s - (uintptr_t)m) / ps), (long)((e - (uintptr_t)m) / ps), perms, (long)(off / ps));
	}
	printf("\n");
	fclose(f);
}

// fill writes page i of m full of 'a'+i.
static void fill(char *m, int pages) {
	for (int i = 0; i < pages; i++)
		memset(m + i * ps, 'a' + i, ps);
}

static sigjmp_buf jb;

static void onbus(int sig) { siglongjmp(jb, sig); }

// touch reads m's first byte, reporting a SIGBUS.
static void touch(const char *what, volatile char *m) {
	struct sigaction sa = {.sa_handler = onbus};
	sigaction(SIGBUS, &sa, NULL);
	int sig = sigsetjmp(jb, 1);
	if (sig == 0)
		printf("%s: read %c\n", what, *m);
	else
		printf("%s: signal %s\n", what, sigabbrev_np(sig));
	signal(SIGBUS, SIG_DFL);
}

static void file(void) {
	int fd = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, PAGES * ps) != 0) {
		perror("data");
		exit(1);
	}
	char *m = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	fill(m, PAGES);
	show("file", m, PAGES);
	call("file: page 0 from 3", m, ps, 0, 3, 0);
	show("file", m, PAGES);
	maps("file maps", m, PAGES * ps);
	m[0] = 'X';
	show("file after a write to page 0", m, PAGES);
	char c = 0;
	if (pread(fd, &c, 1, 3 * ps) != 1)
		perror("pread");
	printf("file: byte at page 3 of the file: %c\n", c);
	msync(m, PAGES * ps, MS_SYNC);
	if (pread(fd, &c, 1, 3 * ps) != 1)
		perror("pread");
	printf("file: after msync: %c\n", c);
	if (pwrite(fd, "Y", 1, 3 * ps) != 1)
		perror("pwrite");
	show("file after pwrite to page 3", m, PAGES);

	// Two pages; the address and size are rounded down to pages.
	call("file: pages 1-2 from 0 (unaligned start, size 2 pages + 7)", m + ps + 5, 2 * ps + 7, 0, 0, 0);
	show("file", m, PAGES);
	maps("file maps", m, PAGES * ps);
	// Across the vmas the remaps made (same file, same flags).
	call("file: all from 0, across vmas", m, PAGES * ps, 0, 0, 0);
	show("file", m, PAGES);
	maps("file maps", m, PAGES * ps);
	call("file: MAP_NONBLOCK", m + 2 * ps, ps, 0, 1, MAP_NONBLOCK);
	show("file", m, PAGES);
	call("file: other flags ignored", m + 2 * ps, ps, 0, 2, MAP_PRIVATE | MAP_ANONYMOUS | 0x40000000);
	show("file", m, PAGES);
	// The vma's protection, not the call's (PROT_READ only here).
	if (mprotect(m + 3 * ps, ps, PROT_READ) != 0)
		perror("mprotect");
	call("file: read-only page 3 from 0", m + 3 * ps, ps, 0, 0, 0);
	maps("file maps", m, PAGES * ps);
	show("file", m, PAGES);
	// Beyond the end of the file: mapped, and a read is SIGBUS.
	call("file: page 1 from 10 (beyond the end)", m + ps, ps, 0, 10, 0);
	touch("file: page 1", m + ps);
	call("file: page 1 back from 1", m + ps, ps, 0, 1, 0);
	touch("file: page 1", m + ps);

	// Refusals.
	call("prot != 0", m, ps, PROT_READ, 0, 0);
	call("prot != 0, unmapped", NULL, ps, PROT_READ, 0, 0);
	call("size 0", m, 0, 0, 0, 0);
	call("size below a page", m, ps - 1, 0, 0, 0);
	call("start + size wraps", (void *)(-ps), 2 * ps, 0, 0, 0);
	call("pgoff wraps", m, 2 * ps, 0, ~0UL, 0);
	call("pgoff huge", m, ps, 0, 1UL << 52, 0);
	call("unmapped start", NULL, ps, 0, 0, 0);
	call("across two vmas of other flags", m + 2 * ps, 2 * ps, 0, 0, 0);
	if (munmap(m + 3 * ps, ps) != 0)
		perror("munmap");
	call("past the mapping's end", m + 2 * ps, 2 * ps, 0, 0, 0);
	if (munmap(m + ps, ps) != 0)
		perror("munmap");
	call("a hole between vmas of one file", m, 3 * ps, 0, 0, 0);
	// Adjacent vmas of two files, with the same flags.
	int fd2 = open("data2", O_RDWR | O_CREAT | O_TRUNC, 0600);
	char *q = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd2 < 0 || ftruncate(fd2, ps) != 0 || q == MAP_FAILED ||
	    mmap(q + ps, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd2, 0) == MAP_FAILED) {
		perror("data2");
		exit(1);
	}
	call("across vmas of two files", q, 2 * ps, 0, 0, 0);
	call("the second file's vma", q + ps, ps, 0, 0, 0);
	munmap(q, 2 * ps);
	close(fd2);
	char *p = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	call("private mapping", p, ps, 0, 3, 0);
	char *a = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	call("private anonymous", a, ps, 0, 3, 0);
	int ro = open("data", O_RDONLY);
	char *r = mmap(NULL, PAGES * ps, PROT_READ, MAP_SHARED, ro, 0);
	if (r == MAP_FAILED) {
		perror("mmap ro");
		exit(1);
	}
	call("shared mapping of a read-only fd", r, ps, 0, 3, 0);
	munmap(m, 3 * ps);
	munmap(p, PAGES * ps);
	munmap(a, PAGES * ps);
	munmap(r, PAGES * ps);
	close(ro);
	close(fd);
}

static void anon(void) {
	char *m = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	fill(m, PAGES);
	call("shared anonymous: page 0 from 3", m, ps, 0, 3, 0);
	show("shared anonymous", m, PAGES);
	maps("shared anonymous maps", m, PAGES * ps);
	m[0] = 'X';
	show("shared anonymous after a write to page 0", m, PAGES);
	call("shared anonymous: all from 0", m, PAGES * ps, 0, 0, 0);
	show("shared anonymous", m, PAGES);
	munmap(m, PAGES * ps);
}

static int nattch(int id) {
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) != 0)
		return -1;
	return ds.shm_nattch;
}

static void sysv(void) {
	int id = shmget(IPC_PRIVATE, PAGES * ps, IPC_CREAT | 0600);
	if (id < 0) {
		perror("shmget");
		exit(1);
	}
	char *m = shmat(id, NULL, 0);
	if (m == (void *)-1) {
		perror("shmat");
		exit(1);
	}
	fill(m, PAGES);
	printf("shm: nattch %d\n", nattch(id));
	call("shm: page 0 from 3", m, ps, 0, 3, 0);
	show("shm", m, PAGES);
	maps("shm maps", m, PAGES * ps);
	printf("shm: nattch %d\n", nattch(id));
	m[0] = 'X';
	show("shm after a write to page 0", m, PAGES);
	call("shm: all from 0", m, PAGES * ps, 0, 0, 0);
	show("shm", m, PAGES);
	printf("shm: nattch %d\n", nattch(id));
	char *r = shmat(id, NULL, SHM_RDONLY);
	call("shm: read-only attachment", r, ps, 0, 3, 0);
	shmdt(r);
	printf("shm: shmdt %d\n", shmdt(m));
	printf("shm: nattch %d\n", nattch(id));
	shmctl(id, IPC_RMID, NULL);

	// A removed segment cannot be mapped again: EINVAL, and the range
	// is left unmapped (the new mapping replaced it, then failed).
	id = shmget(IPC_PRIVATE, PAGES * ps, IPC_CREAT | 0600);
	m = shmat(id, NULL, 0);
	if (id < 0 || m == (void *)-1) {
		perror("shm");
		exit(1);
	}
	fill(m, PAGES);
	shmctl(id, IPC_RMID, NULL);
	call("shm: removed segment, page 1 from 3", m + ps, ps, 0, 3, 0);
	maps("shm maps", m, PAGES * ps);
	unsigned char v;
	int x = mincore(m + ps, ps, &v);
	printf("shm: mincore of page 1: %d %s\n", x, x ? strerrorname_np(errno) : "");
	show("shm page 0", m, 1);
	x = shmdt(m);
	printf("shm: shmdt %d %s\n", x, x ? strerrorname_np(errno) : "");

	// Unless the remap took the removed segment's last mapping: it is
	// destroyed then, and cannot be mapped (LTP shmctl05's loop).
	id = shmget(IPC_PRIVATE, ps, IPC_CREAT | 0600);
	m = shmat(id, NULL, 0);
	if (id < 0 || m == (void *)-1) {
		perror("shm");
		exit(1);
	}
	call("shm: one page", m, ps, 0, 0, 0);
	shmctl(id, IPC_RMID, NULL);
	call("shm: removed one-page segment, again", m, ps, 0, 0, 0);
	x = mincore(m, ps, &v);
	printf("shm: mincore: %d %s\n", x, x ? strerrorname_np(errno) : "");
	x = shmdt(m);
	printf("shm: shmdt %d %s\n", x, x ? strerrorname_np(errno) : "");
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	ps = sysconf(_SC_PAGESIZE);
	file();
	anon();
	sysv();
	return 0;
}
