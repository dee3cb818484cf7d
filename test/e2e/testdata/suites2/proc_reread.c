// /proc files start over at offset 0 (Linux's seq files): a read after
// lseek(0), or a pread at 0, shows the current content, not the open's.
// /proc/self/mounts polls mount changes: EPOLLPRI|EPOLLERR once per
// change (epoll and poll), readable otherwise; other /proc files are
// refused by epoll_ctl (EPERM). LTP epoll_wait10. A read at 0 of a
// process's file after the process was reaped: ESRCH (environ: empty).
// It runs in a mount namespace of its own, private from the host's: a
// native run must not see the mounts other tests make meanwhile.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

// count_tmpfs reads fd from offset 0 to its end (Linux returns a page at
// most a read) and counts the test's mount in it.
static int count_tmpfs(int fd) {
	static char buf[1 << 20];
	int len = 0, n, count = 0;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	while ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += n;
	if (n < 0)
		return -1;
	buf[len] = 0;
	for (char *p = buf; (p = strstr(p, "proc_reread_mnt")); p++)
		count++;
	return count;
}

static void show_epoll(int ep, const char *when) {
	struct epoll_event ev;
	int n = epoll_wait(ep, &ev, 1, 100);
	printf("%s: epoll_wait %d", when, n);
	if (n > 0)
		printf(" events %#x", ev.events);
	printf("\n");
}

static void show_poll(int fd, const char *when) {
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLPRI};
	int n = poll(&p, 1, 0);
	printf("%s: poll %d revents %#x\n", when, n, p.revents);
}

int main(void) {
	char buf[256];
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		perror("a mount namespace of its own");
		return 1;
	}
	int fd = open("/proc/self/comm", O_RDONLY);
	int n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("comm at open: %s", buf);
	prctl(PR_SET_NAME, "renamed");
	n = read(fd, buf, sizeof buf - 1);
	printf("read at the end: %d\n", n);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("after lseek 0: %s", buf);
	prctl(PR_SET_NAME, "again");
	n = pread(fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	printf("pread at 0: %s", buf);

	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLPRI, .data.fd = fd};
	int r = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	printf("epoll_ctl of comm: %d %s\n", r, r ? strerror(errno) : "");
	close(fd);

	if (mkdir("proc_reread_mnt", 0755) != 0) {
		perror("mkdir");
		return 1;
	}
	int mfd = open("/proc/self/mounts", O_RDONLY);
	int pfd = open("/proc/self/mountinfo", O_RDONLY);
	ev.data.fd = mfd;
	printf("epoll_ctl of mounts: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, mfd, &ev));
	show_epoll(ep, "before mount");
	show_poll(pfd, "mountinfo before mount");
	printf("tmpfs mounts: %d\n", count_tmpfs(mfd));
	if (mount("none", "proc_reread_mnt", "tmpfs", 0, NULL) != 0) {
		perror("mount");
		return 1;
	}
	show_epoll(ep, "after mount");
	show_epoll(ep, "again");
	show_poll(pfd, "mountinfo after mount");
	show_poll(pfd, "mountinfo again");
	printf("tmpfs mounts: %d\n", count_tmpfs(mfd));
	if (umount("proc_reread_mnt") != 0) {
		perror("umount");
		return 1;
	}
	show_epoll(ep, "after umount");
	show_poll(pfd, "mountinfo after umount");
	printf("tmpfs mounts: %d\n", count_tmpfs(mfd));
	rmdir("proc_reread_mnt");

	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	const char *names[] = {"stat", "status", "cmdline", "comm", "environ"};
	int pfds[5];
	for (int i = 0; i < 5; i++) {
		char path[64], b[4096];
		snprintf(path, sizeof path, "/proc/%d/%s", child, names[i]);
		pfds[i] = open(path, O_RDONLY);
		read(pfds[i], b, sizeof b);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	for (int i = 0; i < 5; i++) {
		char b[4096];
		int n = pread(pfds[i], b, sizeof b, 0);
		printf("%s of a reaped process: %d %s\n", names[i], n, n < 0 ? strerror(errno) : "");
	}
	return 0;
}
