// /proc/sys/fs/nr_open in the sandbox only (a native run would change
// the host's): Linux's default and bounds on writes, RLIMIT_NOFILE's
// ceiling, the fd table's growth under it, as LTP unshare03 relies on,
// and the copies of a shared table (fork, unshare, close_range's
// CLOSE_RANGE_UNSHARE, execve) that must fit under it. The expected
// output is Linux's (fs/file.c, fs/exec.c, kernel/sys.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NR_OPEN "/proc/sys/fs/nr_open"

#include "common.h"

static long readv_(void) { return readnum(NR_OPEN); }

static void w(const char *s) { writeshow(NR_OPEN, s); }

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

// The arguments of closerange_, the close_range a child sharing the
// table makes.
static unsigned cr_first, cr_last, cr_flags;

static int closerange_(void) { return syscall(SYS_close_range, cr_first, cr_last, cr_flags) < 0 ? errno : 0; }

static int exec_(void) {
	execl("/proc/self/exe", "nr_open", "exec", (char *)NULL);
	return errno;
}

// shared says how fn fared in a child sharing the table (CLONE_FILES):
// the errno it returns, or the signal that killed the child.
static void shared(const char *what, int (*fn)(void)) {
	pid_t pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(fn());
	if (pid < 0) {
		show(what, -1);
		return;
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("%s = killed by SIG%s\n", what, sigabbrev_np(WTERMSIG(st)));
	else if (WEXITSTATUS(st))
		printf("%s = -1 %s\n", what, strerrorname_np(WEXITSTATUS(st)));
	else
		printf("%s = 0\n", what);
	fflush(stdout);
}

static void closerange(unsigned first, unsigned last, unsigned flags) {
	char what[96];
	cr_first = first;
	cr_last = last;
	cr_flags = flags;
	snprintf(what, sizeof what, "close_range %u %d%s", first, (int)last,
		 flags & CLOSE_RANGE_CLOEXEC ? " UNSHARE|CLOEXEC" : " UNSHARE");
	shared(what, closerange_);
}

int main(int argc, char **argv) {
	(void)argv;
	if (argc > 1)
		return 0; // exec_'s image
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
	// close_range's CLOSE_RANGE_UNSHARE copies the table (dup_fd): all of
	// it, unless the range goes to its end (127, the last fd it has room
	// for) without CLOSE_RANGE_CLOEXEC: then the fds below the range's
	// start, at least 64, rounded up to 64.
	closerange(3, ~0U, CLOSE_RANGE_UNSHARE);
	show("F_GETFD 127", fcntl(127, F_GETFD));
	closerange(64, ~0U, CLOSE_RANGE_UNSHARE);
	closerange(100, ~0U, CLOSE_RANGE_UNSHARE);
	closerange(3, 127, CLOSE_RANGE_UNSHARE);
	closerange(3, 126, CLOSE_RANGE_UNSHARE);
	closerange(3, ~0U, CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC);
	show("F_GETFD 100", fcntl(100, F_GETFD));
	// execve copies a table another process shares past its point of no
	// return: the copy's EMFILE kills it with SIGSEGV.
	shared("execve", exec_);
	close(65);
	close(100);
	close(120);
	close(126);
	close(127);
	forked("fork after close", 0, 0);
	forked("unshare CLONE_FILES after close", CLONE_FILES, 1);
	closerange(3, 10, CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC);
	shared("execve after close", exec_);
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
