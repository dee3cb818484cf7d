// under.c: stat, readlink and open of names under a missing directory
// (gcc's search of an include directory that does not exist, after its
// readlink of the directory), answered ENOENT by the client once that
// walk found the directory missing
// (sentry/client/missingprefix.go); then the directory and a file in it
// are made, and the same calls must find them, as on Linux. It prints
// what it finds; the test compares the output with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void look(const char *what, int n) {
	int found = 0, enoent = 0, other = 0;
	char dbuf[16];
	// gcc's canonicalization of the include directory first.
	int d = readlink("nodir/sub", dbuf, sizeof dbuf) < 0 ? errno : 0;
	for (int i = 0; i < n; i++) {
		char p[64], buf[16];
		struct stat st;
		snprintf(p, sizeof p, "nodir/sub/h%d.h", i);
		int r[3];
		r[0] = stat(p, &st);
		r[1] = readlink(p, buf, sizeof buf) < 0 ? -1 : 0;
		int e1 = errno;
		int fd = open(p, O_RDONLY | O_NOCTTY);
		r[2] = fd < 0 ? -1 : 0;
		if (fd >= 0)
			close(fd);
		for (int j = 0; j < 3; j++) {
			if (r[j] == 0 || (j == 1 && e1 == EINVAL))
				found++;
			else if (errno == ENOENT || (j == 1 && e1 == ENOENT))
				enoent++;
			else
				other++;
		}
	}
	printf("%s: directory %d; %d found, %d ENOENT, %d other\n", what, d, found, enoent, other);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	look("missing", 100);
	if (mkdir("nodir", 0755) != 0 || mkdir("nodir/sub", 0755) != 0) {
		perror("mkdir");
		return 1;
	}
	look("made, empty", 100);
	close(open("nodir/sub/h7.h", O_WRONLY | O_CREAT, 0644));
	look("one made", 100);
	return 0;
}
