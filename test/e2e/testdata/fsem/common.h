/* Shared by the fsem test programs: each call's result or errno name is
 * printed, so the output can be compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Unbuffered, so that a forked child does not print its parent's
 * buffered output again. */
__attribute__((constructor)) static void unbuffered(void) { setvbuf(stdout, NULL, _IONBF, 0); }

static void report(const char *what, long r) {
	if (r < 0)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

#define T(expr) report(#expr, (long)(expr))

/* S prints the mode, owner and group of path (lstat). */
static void S(const char *path) {
	struct stat st;
	if (lstat(path, &st) < 0) {
		printf("stat %s = -1 %s\n", path, strerrorname_np(errno));
		return;
	}
	/* A directory's size depends on the filesystem: printed for files only. */
	printf("stat %s: mode %o uid %u gid %u size %lld\n", path, st.st_mode, st.st_uid, st.st_gid,
	       S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL);
	fflush(stdout);
}

/* must aborts on a failing setup step. */
#define must(expr) do { if ((long)(expr) < 0) { printf("setup %s: %s\n", #expr, strerror(errno)); exit(99); } } while (0)
