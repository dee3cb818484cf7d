// MAP_GROWSDOWN (LTP mmap18): a fault below such a mapping grows it down
// to the faulting page, within RLIMIT_STACK and not into the guard gap
// above another mapping; a plain mapping does not grow.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static long pg;

// vma_pages is the size in pages of the mapping holding a, from maps.
static long vma_pages(char *a) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	long n = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && (unsigned long)a >= s && (unsigned long)a < e)
			n = (e - s) / pg;
	}
	fclose(f);
	return n;
}

// region reserves 1024 pages and maps the top one with flags; returns
// the mapped page.
static char *region(int flags) {
	char *start = mmap(NULL, 1024 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(start, 1024 * pg);
	return mmap(start + 1023 * pg, pg, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
}

// run runs a test in a child and prints how it ended.
static void run(const char *name, void (*fn)(void)) {
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", name, WTERMSIG(st));
	else
		printf("%s: exit %d\n", name, WEXITSTATUS(st));
}

static void grow(void) {
	char *top = region(MAP_GROWSDOWN);
	top[-10 * pg] = 1;
	printf("grown to %ld pages, byte %d\n", vma_pages(top), top[-10 * pg]);
	top[-100 * pg] = 2;
	printf("grown to %ld pages\n", vma_pages(top));
}

static void plain(void) {
	char *top = region(0);
	top[-pg] = 1;
}

static void guard_gap(void) {
	char *top = region(MAP_GROWSDOWN);
	// A mapping 200 pages below: growing to within 256 pages of it fails.
	mmap(top - 200 * pg, pg, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	top[-10 * pg] = 1;
}

static void guard_gap_inaccessible(void) {
	char *top = region(MAP_GROWSDOWN);
	// A PROT_NONE mapping below does not count for the gap.
	mmap(top - 200 * pg, pg, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	top[-10 * pg] = 1;
}

static void rlimit(void) {
	struct rlimit rl = {16 * pg, RLIM_INFINITY};
	setrlimit(RLIMIT_STACK, &rl);
	char *top = region(MAP_GROWSDOWN);
	top[-10 * pg] = 1;
	printf("within RLIMIT_STACK: %ld pages\n", vma_pages(top));
	top[-20 * pg] = 1;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	pg = sysconf(_SC_PAGESIZE);
	run("grow", grow);
	run("plain", plain);
	run("guard gap", guard_gap);
	run("guard gap, PROT_NONE below", guard_gap_inaccessible);
	run("rlimit", rlimit);
	return 0;
}
