// lookups.c: gcc's and Python's cold lookups in a directory nobody lists.
// For each of N headers, gcc's readlink (EINVAL: no symbolic link) and
// open of inc/hI.h; for each of N modules, Python's stat of the
// extension's name inc/mI.so (ENOENT) and of inc/mI.py. The first reply
// brings the directory's listing (sentry/client/dirlisting.go), which
// answers the readlinks and stats that follow on the client. It prints
// what it finds; the test compares the output with a native run.
// With a second argument M, it first stats big/fI for I < M, a directory
// too big to be listed: each answer holds a path lease of its own, M of
// them in the client's path budget when the cold lookups begin.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 100;
	int m = argc > 2 ? atoi(argv[2]) : 0;
	int einval = 0, opened = 0, bytes = 0, missing = 0, found = 0, other = 0, big = 0;
	for (int i = 0; i < m; i++) {
		char p[64];
		struct stat st;
		snprintf(p, sizeof p, "big/f%d", i);
		if (stat(p, &st) == 0)
			big++;
	}
	for (int i = 0; i < n; i++) {
		char p[64], buf[64];
		struct stat st;
		snprintf(p, sizeof p, "inc/h%d.h", i);
		if (readlink(p, buf, sizeof buf) < 0 && errno == EINVAL)
			einval++;
		else
			other++;
		int fd = open(p, O_RDONLY | O_NOCTTY);
		if (fd >= 0) {
			opened++;
			ssize_t r = read(fd, buf, sizeof buf);
			if (r > 0)
				bytes += r;
			close(fd);
		} else {
			other++;
		}
		snprintf(p, sizeof p, "inc/m%d.so", i);
		if (stat(p, &st) < 0 && errno == ENOENT)
			missing++;
		else
			other++;
		snprintf(p, sizeof p, "inc/m%d.py", i);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			found++;
		else
			other++;
	}
	printf("big/ found %d, readlink EINVAL %d, opened %d (%d bytes), .so missing %d, .py found %d, other %d\n", big, einval, opened, bytes, missing, found, other);
	return 0;
}
