/* RLIMIT_NOFILE above 1024: many fds, high ones, and the errnos of
 * setrlimit, dup2, dup3, F_DUPFD and poll at the limit, in this process
 * and a forked child. With no argument it works below a hard limit of
 * 4096 (which a native run can set too); with "nropen" it raises the
 * limit to /proc/sys/fs/nr_open first (CAP_SYS_RESOURCE). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
	printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
	fflush(stdout);
}

static int lim(rlim_t cur, rlim_t max) {
	struct rlimit rl = {cur, max};
	return setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv) {
	/* Whatever the test harness left open. */
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int fds[256], nfds = 0;
	while (d && (e = readdir(d)) != NULL && nfds < 256) {
		int fd = atoi(e->d_name);
		if (fd > 2 && fd != dirfd(d))
			fds[nfds++] = fd;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	long nr = 0;
	if (!f || fscanf(f, "%ld", &nr) != 1)
		return 1;
	fclose(f);
	printf("nr_open %ld\n", nr);
	show("setrlimit above nr_open", lim(nr + 1, nr + 1));
	show("setrlimit infinity", lim(RLIM_INFINITY, RLIM_INFINITY));
	long top = 4096;
	if (argc > 1 && strcmp(argv[1], "nropen") == 0) {
		show("setrlimit nr_open", lim(nr, nr));
		top = nr;
	} else {
		show("setrlimit 4096", lim(4096, 4096));
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("limit %lu %lu\n", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);

	int last = -1, n = 0;
	for (int i = 0; i < 3000; i++) {
		int fd = dup(0);
		if (fd < 0) {
			show("dup", fd);
			break;
		}
		last = fd;
		n++;
	}
	printf("dup'd %d fds, last %d\n", n, last);
	long high = top - 96;
	show("dup2 to top-96", dup2(0, high) == high);
	show("F_DUPFD top-1", fcntl(0, F_DUPFD, top - 1) == top - 1);
	show("F_DUPFD top-1 again", fcntl(0, F_DUPFD, top - 1));
	show("F_DUPFD top", fcntl(0, F_DUPFD, top));
	show("dup2 to top", dup2(0, top));
	show("dup3 to top", dup3(0, top, O_CLOEXEC));
	close(2500);
	show("dup after close(2500)", dup(0));

	pid_t p = fork();
	if (p == 0) {
		show("child: F_GETFD top-96", fcntl(high, F_GETFD));
		show("child: close top-96", close(high));
		show("child: close top-96 again", close(high));
		_exit(0);
	}
	waitpid(p, NULL, 0);
	show("parent: F_GETFD top-96", fcntl(high, F_GETFD));

	show("lower to 100", lim(100, 100));
	show("dup2 to 100", dup2(0, 100));
	show("dup2 to 99", dup2(0, 99));
	show("dup3 to 200", dup3(0, 200, 0));
	show("F_DUPFD 100", fcntl(0, F_DUPFD, 100));
	show("dup", dup(0));
	show("fd top-96 still open", fcntl(high, F_GETFD));
	show("close top-96", close(high));
	struct pollfd pfd[101];
	memset(pfd, 0, sizeof pfd);
	for (int i = 0; i < 101; i++)
		pfd[i].fd = -1;
	show("poll 100 fds", poll(pfd, 100, 0));
	show("poll 101 fds", poll(pfd, 101, 0));
	return 0;
}
