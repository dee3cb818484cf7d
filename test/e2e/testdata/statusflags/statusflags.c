// fcntl(F_GETFL) and /proc/self/fdinfo's "flags:" line of each kind of
// description, compared with a native run: on 64-bit Linux sets
// O_LARGEFILE only on those open, openat, openat2 and creat made
// (force_o_largefile; not an O_PATH open's) and memfd_create's, never on
// pipes, sockets, eventfds, epoll, timerfds, signalfds, inotify, message
// queues or pidfds.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

// kernel_o_largefile is the kernel's O_LARGEFILE: glibc's is 0 on 64-bit.
#define kernel_o_largefile 0100000

// fdinfo_flags returns the "flags:" line of /proc/self/fdinfo/fd.
static const char *fdinfo_flags(int fd) {
	static char out[64];
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(out, sizeof out, "no fdinfo: %s", strerror(errno));
		return out;
	}
	snprintf(out, sizeof out, "none");
	while (fgets(buf, sizeof buf, f))
		if (strncmp(buf, "flags:", 6) == 0) {
			buf[strcspn(buf, "\n")] = 0;
			snprintf(out, sizeof out, "%s", buf + 6 + strspn(buf + 6, " \t"));
		}
	fclose(f);
	return out;
}

static void show(const char *what, int fd) {
	if (fd < 0) {
		printf("%s: -1 %s\n", what, strerror(errno));
		return;
	}
	int fl = fcntl(fd, F_GETFL);
	printf("%s: F_GETFL %#o largefile %d fdinfo %s\n", what, fl, !!(fl & kernel_o_largefile), fdinfo_flags(fd));
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	char dir[] = "/tmp/statusflagsXXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char path[128], fifo[128];
	snprintf(path, sizeof path, "%s/f", dir);
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);

	show("open O_CREAT|O_RDWR", open(path, O_CREAT | O_RDWR, 0600));
	show("open O_RDONLY", open(path, O_RDONLY));
	show("open O_WRONLY|O_APPEND|O_NONBLOCK", open(path, O_WRONLY | O_APPEND | O_NONBLOCK));
	show("open O_RDONLY|O_LARGEFILE", open(path, O_RDONLY | kernel_o_largefile));
	show("openat O_RDONLY|O_CLOEXEC", openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
	show("creat", creat(path, 0600));
	struct open_how how = {.flags = O_RDONLY};
	show("openat2 O_RDONLY", syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how));
	how.flags = O_PATH;
	show("openat2 O_PATH", syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how));
	show("open O_PATH", open(path, O_PATH));
	show("open O_PATH|O_LARGEFILE", open(path, O_PATH | kernel_o_largefile));
	show("open dir O_DIRECTORY", open(dir, O_RDONLY | O_DIRECTORY));
	show("open /dev/null", open("/dev/null", O_RDWR));
	show("open /proc/self/status", open("/proc/self/status", O_RDONLY));
	int fd = open(path, O_RDONLY);
	char self[64];
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	show("open /proc/self/fd/N", open(self, O_RDONLY));
	show("dup of open", dup(fd));
	show("memfd_create", memfd_create("m", 0));
	show("memfd_create MFD_CLOEXEC", memfd_create("m", MFD_CLOEXEC));

	int p[2];
	pipe(p);
	show("pipe read end", p[0]);
	show("pipe write end", p[1]);
	pipe2(p, O_NONBLOCK | O_CLOEXEC);
	show("pipe2 O_NONBLOCK read end", p[0]);
	if (mkfifo(fifo, 0600) == 0) {
		show("open fifo O_RDONLY|O_NONBLOCK", open(fifo, O_RDONLY | O_NONBLOCK));
		show("open fifo O_RDWR", open(fifo, O_RDWR));
	}
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	show("socketpair", sv[0]);
	show("socket AF_UNIX SOCK_NONBLOCK", socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0));
	show("socket AF_INET", socket(AF_INET, SOCK_STREAM, 0));
	show("eventfd", eventfd(0, 0));
	show("eventfd EFD_NONBLOCK", eventfd(0, EFD_NONBLOCK));
	show("epoll_create1", epoll_create1(0));
	show("timerfd_create", timerfd_create(CLOCK_MONOTONIC, 0));
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	show("signalfd", signalfd(-1, &set, 0));
	show("inotify_init1", inotify_init1(0));
	struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
	mqd_t q = mq_open("/statusflags", O_RDWR | O_CREAT, 0600, &a);
	show("mq_open O_RDWR", q);
	mq_unlink("/statusflags");
	show("pidfd_open", syscall(SYS_pidfd_open, getpid(), 0));
	show("stdout (a pipe)", 1);

	// A child's fdinfo of the same descriptions (fork copies the table).
	pid_t pid = fork();
	if (pid == 0) {
		show("child: open O_RDONLY", fd);
		show("child: pipe write end", p[1]);
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	unlink(fifo);
	unlink(path);
	rmdir(dir);
	return 0;
}
