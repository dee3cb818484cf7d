// MADV_FREE and MADV_REMOVE by the kind of mapping (the client's
// per-range index of what its files map): private anonymous, private and
// shared file mappings, shared anonymous memory, SysV shared memory, a
// file mapping replaced in part by anonymous memory, moved by mremap,
// inherited by fork.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096

static void adv(const char *what, void *p, size_t len) {
	int f = madvise(p, len, MADV_FREE);
	int fe = errno;
	int r = madvise(p, len, MADV_REMOVE);
	int re = errno;
	printf("%s: MADV_FREE %s, MADV_REMOVE %s\n", what, f ? strerror(fe) : "ok", r ? strerror(re) : "ok");
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
	ftruncate(fd, 16 * PG);
	int ro = open("f", O_RDONLY);
	char *anon = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	adv("private anonymous", anon, 4 * PG);
	char *none = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	adv("private anonymous PROT_NONE", none, PG);
	char *pf = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	adv("private file", pf, 4 * PG);
	char *sf = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	adv("shared file", sf, 4 * PG);
	char *sro = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, ro, 0);
	adv("shared file, read-only fd", sro, 4 * PG);
	char *sa = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	adv("shared anonymous", sa, 4 * PG);
	// MADV_REMOVE of shared anonymous memory zeroes it for every
	// mapping: a child that shares it sees the parent's removal.
	memset(sa, 'a', 4 * PG);
	if (fork() == 0) {
		madvise(sa + PG, PG, MADV_REMOVE);
		_exit(0);
	}
	wait(NULL);
	printf("shared anonymous after a child's MADV_REMOVE of page 1: %c %d %c\n", sa[0], sa[PG], sa[2 * PG]);
	// Through a second mapping made by mremap of the same memory.
	char *alias = mremap(sa, 0, 4 * PG, MREMAP_MAYMOVE);
	madvise(alias + 2 * PG, PG, MADV_REMOVE);
	printf("after MADV_REMOVE of page 2 through an alias: %c %d %c\n", sa[0], sa[2 * PG], sa[3 * PG]);
	int id = shmget(IPC_PRIVATE, 4 * PG, IPC_CREAT | 0600);
	char *shm = shmat(id, NULL, 0);
	adv("SysV shared memory", shm, 4 * PG);
	shmdt(shm);
	shmctl(id, IPC_RMID, NULL);
	adv("SysV shared memory, detached", shm, 4 * PG);

	// A file mapping replaced in its middle by anonymous memory.
	char *mix = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	mmap(mix + 2 * PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	adv("anonymous inside a file mapping", mix + 2 * PG, 2 * PG);
	adv("file around it", mix, 3 * PG);
	// Partly unmapped: the rest is still the file's.
	munmap(mix + 6 * PG, PG);
	adv("file mapping after a partial munmap", mix + 4 * PG, 2 * PG);
	adv("file mapping and the hole", mix + 4 * PG, 3 * PG);
	adv("only the hole", mix + 6 * PG, PG);

	// Moved by mremap: the new place is the file's, the old one free.
	char *dst = mmap(NULL, 8 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(dst, 8 * PG);
	char *moved = mremap(sf, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	adv("shared file moved by mremap", moved, 4 * PG);
	char *back = mmap(sf, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	adv("anonymous where it was", back, 4 * PG);

	// A child sees the same kinds.
	if (fork() == 0) {
		adv("child: private file", pf, 4 * PG);
		adv("child: private anonymous", anon, 4 * PG);
		adv("child: shared file moved", moved, 4 * PG);
		_exit(0);
	}
	wait(NULL);
	unlink("f");
	return 0;
}
