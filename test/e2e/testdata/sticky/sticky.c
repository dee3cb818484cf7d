// sticky: select, pselect6 and ppoll write the time left back to their
// timeout, unless the STICKY_TIMEOUTS personality is set. Each waits 20 ms
// on a pipe with nothing to read. Prints what happened; run natively and
// sandboxed.
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int fds[2];

static void run(const char *mode) {
	fd_set r;
	FD_ZERO(&r);
	FD_SET(fds[0], &r);
	struct timeval tv = {.tv_usec = 20000};
	select(fds[0] + 1, &r, NULL, NULL, &tv);
	printf("%s select: timeout %s\n", mode, tv.tv_usec == 20000 ? "kept" : "changed");

	FD_ZERO(&r);
	FD_SET(fds[0], &r);
	struct timespec ts = {.tv_nsec = 20000000};
	syscall(SYS_pselect6, fds[0] + 1, &r, NULL, NULL, &ts, NULL);
	printf("%s pselect6: timeout %s\n", mode, ts.tv_nsec == 20000000 ? "kept" : "changed");

	struct pollfd p = {.fd = fds[0], .events = POLLIN};
	ts.tv_sec = 0;
	ts.tv_nsec = 20000000;
	syscall(SYS_ppoll, &p, 1, &ts, NULL, 8);
	printf("%s ppoll: timeout %s\n", mode, ts.tv_nsec == 20000000 ? "kept" : "changed");
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (pipe(fds) != 0) {
		perror("pipe");
		return 1;
	}
	run("default");
	personality(PER_LINUX | STICKY_TIMEOUTS);
	run("sticky");
	personality(PER_LINUX);
	run("default again");
	return 0;
}
