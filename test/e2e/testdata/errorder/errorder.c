// errorder: the answers of calls whose checks Linux makes in a given order,
// or that are new (fchmodat2), printed one per line; the test compares them
// with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static void show(const char *what, long r) {
	if (r < 0)
		printf("%-40s -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%-40s %ld\n", what, r);
}

static void mode(const char *what, const char *path) {
	struct stat st;
	if (lstat(path, &st) < 0) {
		printf("%-40s lstat %s\n", what, strerrorname_np(errno));
		return;
	}
	printf("%-40s %o\n", what, st.st_mode);
}

int main(void) {
	// fchmodat2 (Linux 6.6): fchmodat with AT_SYMLINK_NOFOLLOW and
	// AT_EMPTY_PATH.
	if (mkdir("d", 0755) < 0 || close(open("d/f", O_CREAT | O_WRONLY, 0644)) < 0 || symlink("f", "d/l") < 0) {
		perror("setup");
		return 1;
	}
	int dfd = open("d", O_RDONLY | O_DIRECTORY);
	show("fchmodat2 f 0600", syscall(SYS_fchmodat2, dfd, "f", 0600, 0));
	mode("  mode of f", "d/f");
	show("fchmodat2 l follow 0640", syscall(SYS_fchmodat2, dfd, "l", 0640, 0));
	mode("  mode of f", "d/f");
	show("fchmodat2 l nofollow", syscall(SYS_fchmodat2, dfd, "l", 0600, AT_SYMLINK_NOFOLLOW));
	mode("  mode of l", "d/l");
	mode("  mode of f", "d/f");
	show("fchmodat2 f nofollow 0604", syscall(SYS_fchmodat2, dfd, "f", 0604, AT_SYMLINK_NOFOLLOW));
	mode("  mode of f", "d/f");
	show("fchmodat2 bad flag", syscall(SYS_fchmodat2, dfd, "f", 0600, 0x1));
	show("fchmodat2 missing", syscall(SYS_fchmodat2, dfd, "nope", 0600, 0));
	show("fchmodat2 missing nofollow", syscall(SYS_fchmodat2, dfd, "nope", 0600, AT_SYMLINK_NOFOLLOW));
	show("fchmodat2 empty", syscall(SYS_fchmodat2, dfd, "", 0700, 0));
	show("fchmodat2 empty AT_EMPTY_PATH", syscall(SYS_fchmodat2, dfd, "", 0750, AT_EMPTY_PATH));
	mode("  mode of d", "d");
	int ffd = open("d/f", O_RDONLY);
	show("fchmodat2 fd AT_EMPTY_PATH", syscall(SYS_fchmodat2, ffd, "", 0640, AT_EMPTY_PATH));
	mode("  mode of f", "d/f");
	show("fchmodat2 bad dirfd", syscall(SYS_fchmodat2, 999, "f", 0600, 0));
	show("fchmodat2 file as dirfd", syscall(SYS_fchmodat2, ffd, "x", 0600, 0));
	show("fchmodat2 bad path pointer", syscall(SYS_fchmodat2, dfd, (char *)1, 0600, 0));
	close(ffd);
	if (geteuid() == 0) {
		// Another user's symlink: EOPNOTSUPP comes before the owner's
		// check (EPERM for the file).
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			if (setresuid(65534, 65534, 65534) < 0)
				_exit(1);
			show("other user: fchmodat2 l nofollow", syscall(SYS_fchmodat2, dfd, "l", 0600, AT_SYMLINK_NOFOLLOW));
			show("other user: fchmodat2 f", syscall(SYS_fchmodat2, dfd, "f", 0600, 0));
			fflush(stdout);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
	}

	// epoll_wait's checks: since Linux 6.18 (the kernel measured) the fd
	// comes before maxevents.
	int ep = epoll_create1(0);
	struct epoll_event ev[2];
	struct timespec zero = {0, 0}, bad = {0, -1};
	show("epoll_wait -1 maxevents 0", syscall(SYS_epoll_wait, -1, ev, 0, 0));
	show("epoll_wait ep maxevents 0", syscall(SYS_epoll_wait, ep, ev, 0, 0));
	show("epoll_wait ep maxevents -1", syscall(SYS_epoll_wait, ep, ev, -1, 0));
	show("epoll_wait not epoll", syscall(SYS_epoll_wait, dfd, ev, 1, 0));
	show("epoll_wait -1 NULL events", syscall(SYS_epoll_wait, -1, NULL, 1, 0));
	show("epoll_pwait -1 maxevents 0", syscall(SYS_epoll_pwait, -1, ev, 0, 0, NULL, 8));
	show("epoll_pwait2 -1 maxevents 0", syscall(SYS_epoll_pwait2, -1, ev, 0, &zero, NULL, 8));
	show("epoll_pwait2 ep maxevents 0", syscall(SYS_epoll_pwait2, ep, ev, 0, &zero, NULL, 8));
	show("epoll_pwait2 -1 bad timeout", syscall(SYS_epoll_pwait2, -1, ev, 1, &bad, NULL, 8));
	show("epoll_pwait2 ep timeout 0", syscall(SYS_epoll_pwait2, ep, ev, 1, &zero, NULL, 8));
	return 0;
}
