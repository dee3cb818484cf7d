/* statacc: make's way with a program or a file it found: stat(path),
 * then access(path, mode). For each of argv[2] paths of directory
 * argv[1] (fNNN regular files, lNNN symbolic links to them, dNNN
 * directories), a stat and the access calls of R_OK, X_OK, F_OK and
 * W_OK, each result printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int try(const char *p, int mode) { return access(p, mode) ? errno : 0; }

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: statacc DIR COUNT\n");
		return 2;
	}
	int n = atoi(argv[2]);
	static const char kinds[] = "fld";
	for (int i = 0; i < n; i++) {
		char p[4096];
		snprintf(p, sizeof p, "%s/%c%03d", argv[1], kinds[i % 3], i);
		struct stat st;
		if (stat(p, &st)) {
			printf("%s: stat errno %d\n", p + 0, errno);
			continue;
		}
		printf("%c%03d %o: r %d x %d f %d w %d\n", kinds[i % 3], i, st.st_mode, try(p, R_OK), try(p, X_OK), try(p, F_OK), try(p, W_OK));
	}
	return 0;
}
