/* posted OP N: N rounds, twice; after each time it prints a line and
   waits for one on stdin, so that the test can read the daemons' counters
   in between. A round of "writes" is four 16-byte writes to a regular
   file it created (writes behind: the client posts them) and one
   getgroups(0, NULL), a call the client waits for; "files" creates a
   file, writes it, closes it and sets its mode and times (as tar does),
   then makes the same waited call (for counting by hand). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3) return 2;
	int files = !strcmp(argv[1], "files");
	long n = atol(argv[2]);
	char line[16], buf[16], name[64];
	memset(buf, 'x', sizeof buf);
	int fd = open("posted.out", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0) return 1;
	long made = 0;
	for (int round = 0; round < 2; round++) {
		for (long i = 0; i < n; i++) {
			if (files) {
				snprintf(name, sizeof name, "f%ld", made++);
				int f = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0600);
				if (f < 0 || write(f, buf, sizeof buf) != sizeof buf) return 1;
				close(f);
				chmod(name, 0644);
				struct timespec ts[2] = {{1, 0}, {2, 0}};
				utimensat(AT_FDCWD, name, ts, 0);
			} else {
				for (int w = 0; w < 4; w++)
					if (write(fd, buf, sizeof buf) != sizeof buf) return 1;
			}
			getgroups(0, NULL);
		}
		if (write(1, "x\n", 2) != 2) return 1;
		if (read(0, line, sizeof line) <= 0) return 1;
	}
	return close(fd);
}
