/* hop OP N: N rounds of OP ("hop": one forwarded call the server
   answers at once, getgroups(0, NULL); "umask": umask(022), which the
   client answers and posts, not waiting for it; "ids": getppid,
   getpgrp, getpgid(0), getsid(0) and getuid, which the client
   answers), twice; after each time it prints a
   line and waits for one on stdin, so that the test can read the
   daemons' counters in between. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3) return 2;
	int ids = !strcmp(argv[1], "ids"), posted = !strcmp(argv[1], "umask");
	long n = atol(argv[2]);
	char line[16];
	for (int round = 0; round < 2; round++) {
		for (long i = 0; i < n; i++) {
			if (ids) {
				/* syscall(2): libc may cache some of these. */
				syscall(SYS_getppid);
				syscall(SYS_getpgrp);
				syscall(SYS_getpgid, 0);
				syscall(SYS_getsid, 0);
				syscall(SYS_getuid);
			} else if (posted) {
				umask(022);
			} else {
				getgroups(0, NULL);
			}
		}
		if (write(1, "x\n", 2) != 2) return 1;
		if (read(0, line, sizeof line) <= 0) return 1;
	}
	return 0;
}
