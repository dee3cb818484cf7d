// mincore: mapped ranges fill the vector, unmapped ones are ENOMEM, an
// unaligned address is EINVAL (as gnulib's stack probe expects).
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void show(const char *what, void *addr, size_t len, unsigned char *vec) {
	memset(vec, 7, 8);
	int r = mincore(addr, len, vec);
	printf("%s: %d %s", what, r, r ? strerror(errno) : "ok");
	if (r == 0) {
		printf(" vec");
		for (size_t i = 0; i < (len + 4095) / 4096 && i < 8; i++)
			printf(" %d", vec[i] & 1);
	}
	printf("\n");
}

int main(void) {
	long ps = sysconf(_SC_PAGESIZE);
	unsigned char vec[8];
	char *m = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(m, 1, 4 * ps); // resident natively too
	show("mapped", m, 4 * ps, vec);
	show("partial page length", m, ps + 1, vec);
	show("zero length", m, 0, vec);
	show("unaligned", m + 1, ps, vec);
	munmap(m + ps, ps);
	show("hole", m, 4 * ps, vec);
	show("unmapped page", m + ps, ps, vec);
	show("after hole", m + 2 * ps, 2 * ps, vec);
	show("beyond user space", (void *)0x7ffffffff000UL, 2 * ps, vec);
	show("null page", (void *)0, ps, vec);
	int r = mincore(m, ps, (unsigned char *)1);
	printf("bad vector: %d %s\n", r, r ? strerror(errno) : "ok");
	return 0;
}
