/* prctl(PR_SET_MM): the argument, size, fault and permission checks
 * (Linux's prctl_set_mm and prctl_set_mm_map, CONFIG_CHECKPOINT_RESTORE)
 * and PR_SET_MM_MAP_SIZE. Only calls that fail, or change nothing, are
 * made, so the native run is harmless. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, long r) {
	if (r < 0)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

#define T(expr) report(#expr, (long)(expr))

/* drop removes capability cap from the effective set. */
static int drop(int cap) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	d[cap / 32].effective &= ~(1u << (cap % 32));
	return syscall(SYS_capset, &h, d);
}

int main(int argc, char **argv) {
	if (argc > 1) {
		/* With CAP_SYS_RESOURCE (which a container's root may lack:
		 * the test runs this in the sandbox only): the one-field
		 * options' address checks, EINVAL below mmap_min_addr, and an
		 * unknown option's EINVAL. */
		T(prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 0));
		T(prctl(PR_SET_MM, PR_SET_MM_ARG_START, 4096, 0, 0));
		T(prctl(PR_SET_MM, 99, 0, 0, 0));
		return 0;
	}
	/* Without CAP_SYS_RESOURCE, natively and in the sandbox alike. */
	T(drop(CAP_SYS_RESOURCE));
	unsigned int size = 0;
	T(prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &size, 0, 0));
	printf("size %u\n", size);
	T(prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &size, 0, 1));
	T(prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, NULL, 0, 0));
	T(prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0x400000, 1, 0));
	T(prctl(PR_SET_MM, PR_SET_MM_EXE_FILE, 0, 1, 0));

	char map[256] = {0};
	T(prctl(PR_SET_MM, PR_SET_MM_MAP, map, size - 1, 0));
	T(prctl(PR_SET_MM, PR_SET_MM_MAP, map, size + 8, 0));
	T(prctl(PR_SET_MM, PR_SET_MM_MAP, NULL, size, 0));
	/* Every address 0: below mmap_min_addr. */
	T(prctl(PR_SET_MM, PR_SET_MM_MAP, map, size, 0));

	/* The one-field options need CAP_SYS_RESOURCE, checked before the
	 * option and the address. */
	T(prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 0));
	T(prctl(PR_SET_MM, PR_SET_MM_ARG_START, 4096, 0, 0));
	T(prctl(PR_SET_MM, PR_SET_MM_EXE_FILE, 0, 0, 0));
	T(prctl(PR_SET_MM, 99, 0, 0, 0));
	return 0;
}
