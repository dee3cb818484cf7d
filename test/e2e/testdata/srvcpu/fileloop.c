/* fileloop OP N: N rounds, twice; after each pass it prints a line and
   waits for one on stdin, so that the test can read the daemons'
   counters in between. A round of "openclose" opens an existing file
   read-only and closes it (the close is posted: it goes ahead of the next
   open); "create" makes a new file, writes a line into it and closes it,
   as `echo $i > f$i` does; "createuser" does so as uid and gid 1000
   (in a directory u it makes first), so that the gofer changes each new
   file's owner, and "create664" under umask 002, so that a gofer whose
   umask is 022 would cut the group's write bit. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3) return 2;
	int user = !strcmp(argv[1], "createuser");
	int mode664 = !strcmp(argv[1], "create664");
	int create = user || mode664 || !strcmp(argv[1], "create");
	long n = atol(argv[2]);
	char line[16], name[64], buf[32];
	int keep = open("fileloop.f", O_CREAT | O_RDWR, 0644);
	if (keep < 0) return 1;
	if (user && (mkdir("u", 0777) != 0 || chmod("u", 0777) != 0 || chdir("u") != 0 ||
		     setgid(1000) != 0 || setuid(1000) != 0))
		return 1;
	if (mode664) umask(002);
	long made = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (long i = 0; i < n; i++) {
			int fd;
			if (create) {
				snprintf(name, sizeof name, "f%ld", made);
				fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, mode664 ? 0666 : 0644);
				int len = snprintf(buf, sizeof buf, "%ld\n", made++);
				if (fd < 0 || write(fd, buf, len) != len) return 1;
			} else {
				fd = open("fileloop.f", O_RDONLY);
				if (fd < 0) return 1;
			}
			if (close(fd) != 0) return 1;
		}
		if (write(1, "x\n", 2) != 2) return 1;
		if (read(0, line, sizeof line) <= 0) return 1;
	}
	return close(keep);
}
