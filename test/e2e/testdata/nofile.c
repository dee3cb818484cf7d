/* Lowers RLIMIT_NOFILE to 10 and opens files until it fails, in this
 * process and in a child (the limit is inherited); fcntl(F_DUPFD) at or
 * above the limit fails too. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void fill(const char *who) {
	int n = 0, fd, last = -1;
	while ((fd = open("/dev/null", O_RDONLY)) >= 0) { last = fd; n++; }
	printf("%s: opened %d, last fd %d, then %s\n", who, n, last, strerror(errno));
	fflush(stdout);
}

int main(void) {
	struct rlimit rl = {10, 10};
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) { perror("setrlimit"); return 1; }
	pid_t p = fork();
	if (p == 0) { fill("child"); return 0; }
	waitpid(p, NULL, 0);
	fill("parent");
	errno = 0;
	int r = fcntl(0, F_DUPFD, 10);
	printf("F_DUPFD 10: %d %s\n", r, strerror(errno));
	close(9);
	r = fcntl(0, F_DUPFD, 5);
	printf("F_DUPFD 5 after close(9): %d\n", r);
	return 0;
}
