// /proc/sys/fs/nr_open in the sandbox only (a native run would change
// the host's): Linux's default and bounds on writes, RLIMIT_NOFILE's
// ceiling, and the fd table's growth under it, as LTP unshare03 relies
// on. The expected output is Linux's (fs/file.c, kernel/sys.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NR_OPEN "/proc/sys/fs/nr_open"

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

static long readv_(void) {
	char buf[32] = {0};
	int fd = open(NR_OPEN, O_RDONLY);
	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof buf - 1) < 0)
		buf[0] = 0;
	close(fd);
	return strtol(buf, NULL, 10);
}

// writev_ writes s to nr_open: 0 or -1 with errno.
static int writev_(const char *s) {
	int fd = open(NR_OPEN, O_WRONLY);
	if (fd < 0)
		return -1;
	int r = write(fd, s, strlen(s)) < 0 ? -1 : 0;
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static void w(const char *s) {
	char what[64];
	snprintf(what, sizeof what, "write %s", s);
	show(what, writev_(s));
}

static void setnofile(long n) {
	struct rlimit r = {n, n};
	char what[64];
	snprintf(what, sizeof what, "setrlimit %ld", n);
	show(what, setrlimit(RLIMIT_NOFILE, &r));
}

static void dup2_(int fd) {
	char what[64];
	snprintf(what, sizeof what, "dup2 %d", fd);
	show(what, dup2(2, fd));
}

// forked says how a fork fared: its errno, or the child's exit status
// (the child tries unshare(CLONE_FILES) when unshare is set).
static void forked(const char *what, unsigned long flags, int unshare) {
	pid_t pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(unshare ? (syscall(SYS_unshare, CLONE_FILES) < 0 ? errno : 0) : 0);
	if (pid < 0) {
		show(what, -1);
		return;
	}
	int st;
	waitpid(pid, &st, 0);
	if (WEXITSTATUS(st))
		printf("%s = -1 %s\n", what, strerrorname_np(WEXITSTATUS(st)));
	else
		printf("%s = 0\n", what);
	fflush(stdout);
}

int main(void) {
	struct rlimit r;
	show("default", readv_());
	w("63");
	w("2147483585");
	w("-1");
	w("junk");
	w("2147483584");
	show("read", readv_());
	setnofile(2147483584);
	setnofile(2147483585);
	w("1048576");
	getrlimit(RLIMIT_NOFILE, &r);
	printf("limit kept = %ld %ld\n", (long)r.rlim_cur, (long)r.rlim_max);
	setnofile(1048577);
	setnofile(1048576);
	w("64");
	show("read", readv_());
	setnofile(65);
	setnofile(64);
	w("1048576");
	setnofile(1048576);
	w("64");
	// The table has room for 64 fds: it may not grow to nr_open, below
	// the limit set before.
	dup2_(64);
	show("F_DUPFD 64", fcntl(2, F_DUPFD, 64));
	w("1048576");
	dup2_(65);
	w("64");
	// It has room for 128 now: fds below that need no growth.
	dup2_(100);
	dup2_(127);
	dup2_(128);
	show("F_DUPFD 120", fcntl(2, F_DUPFD, 120));
	show("F_DUPFD 126", fcntl(2, F_DUPFD, 126));
	// A copy of the table needs 128 slots, above nr_open.
	forked("fork", 0, 0);
	forked("clone CLONE_FILES", CLONE_FILES, 0);
	forked("unshare CLONE_FILES", CLONE_FILES, 1);
	close(65);
	close(100);
	close(120);
	close(126);
	close(127);
	forked("fork after close", 0, 0);
	forked("unshare CLONE_FILES after close", CLONE_FILES, 1);
	w("1048576");
	// Another user may not write it (0644).
	pid_t pid = fork();
	if (pid == 0) {
		if (setuid(65534) < 0)
			_exit(1);
		w("1000");
		show("user read", readv_());
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	return 0;
}
