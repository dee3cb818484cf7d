// pidfds: pidfd_open, pidfd_send_signal, pidfd_getfd, clone(CLONE_PIDFD),
// waitid(P_PIDFD), poll and epoll on a pidfd, its /proc/self/fd link,
// fdinfo and fstat, and Linux's errors for each. Output is compared with
// a native run (ids and fd numbers are not printed).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif

static int pidfd_open(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }
static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags) {
	return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}
static int pidfd_getfd(int fd, int target, unsigned flags) { return syscall(SYS_pidfd_getfd, fd, target, flags); }

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: ok\n", what);
}

static int readable(int fd, int timeout) {
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n = poll(&p, 1, timeout);
	return n == 1 ? p.revents : n;
}

// A child that waits for a byte on a pipe (or for a signal), then exits 7.
static pid_t waiter(int *wake) {
	int p[2];
	if (pipe(p) < 0)
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(9);
		_exit(7);
	}
	close(p[0]);
	*wake = p[1];
	return pid;
}

static volatile sig_atomic_t got;

// await waits up to 5 s for the handler to run.
static void await(void) {
	for (int i = 0; i < 5000 && !got; i++)
		usleep(1000);
}
static volatile int got_value;
static void handler(int sig, siginfo_t *si, void *uc) {
	got = sig;
	got_value = si->si_value.sival_int;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	char buf[256], path[64];

	// pidfd_open's errors.
	show("pidfd_open(0)", pidfd_open(0, 0));
	show("pidfd_open(-1)", pidfd_open(-1, 0));
	show("pidfd_open(self, bad flags)", pidfd_open(getpid(), 1));
	show("pidfd_open(unused pid)", pidfd_open(4000000, 0));

	// One of ourselves: close-on-exec, O_RDWR, an anonymous inode.
	int self = pidfd_open(getpid(), 0);
	show("pidfd_open(self)", self);
	printf("FD_CLOEXEC: %d\n", fcntl(self, F_GETFD) & FD_CLOEXEC);
	printf("O_ACCMODE: %d, O_NONBLOCK: %d\n", fcntl(self, F_GETFL) & O_ACCMODE, !!(fcntl(self, F_GETFL) & O_NONBLOCK));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", self);
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("readlink: %s\n", buf);
	struct stat st;
	show("fstat", fstat(self, &st));
	// No file type: an anonymous inode's (pidfs since Linux 6.9 has
	// other permission bits).
	printf("st_mode type: %o\n", st.st_mode & S_IFMT);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", self);
	FILE *fi = fopen(path, "r");
	int pid_ok = 0, nspid_ok = 0;
	while (fi && fgets(buf, sizeof(buf), fi)) {
		int v;
		if (sscanf(buf, "Pid:\t%d", &v) == 1)
			pid_ok = v == getpid();
		if (sscanf(buf, "NSpid:\t%d", &v) == 1)
			nspid_ok = v == getpid();
	}
	if (fi)
		fclose(fi);
	printf("fdinfo Pid: %d, NSpid: %d\n", pid_ok, nspid_ok);
	show("read of a pidfd", read(self, buf, 8));
	printf("poll of a running process: %d\n", readable(self, 0));

	// pidfd_send_signal: to ourselves, with and without a siginfo.
	struct sigaction sa = {.sa_sigaction = handler, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	show("send_signal(self, 0)", pidfd_send_signal(self, 0, NULL, 0));
	show("send_signal(self, SIGUSR1)", pidfd_send_signal(self, SIGUSR1, NULL, 0));
	await();
	printf("got %d\n", got);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGUSR1;
	si.si_code = SI_QUEUE;
	si.si_value.sival_int = 777;
	got = 0;
	show("send_signal(self, SIGUSR1, SI_QUEUE info)", pidfd_send_signal(self, SIGUSR1, &si, 0));
	await();
	printf("got %d value %d\n", got, got_value);
	show("send_signal(bad flags)", pidfd_send_signal(self, 0, NULL, 0x100));
	show("send_signal(info of another signal)", pidfd_send_signal(self, SIGUSR2, &si, 0));
	show("send_signal(bad signal)", pidfd_send_signal(self, 1000, NULL, 0));
	show("send_signal(closed fd)", pidfd_send_signal(999, 0, NULL, 0));
	show("send_signal(not a pidfd)", pidfd_send_signal(0, 0, NULL, 0));
	int procdir = open("/proc/self", O_DIRECTORY | O_RDONLY);
	show("send_signal(/proc/self dir, 0)", pidfd_send_signal(procdir, 0, NULL, 0));
	close(procdir);

	// A child: its pidfd polls readable when it exits, not before;
	// waitid(P_PIDFD) reaps it; then the pidfd signals ESRCH.
	int wake;
	pid_t child = waiter(&wake);
	int cfd = pidfd_open(child, 0);
	show("pidfd_open(child)", cfd);
	printf("poll before exit: %d\n", readable(cfd, 50));
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN}, out;
	show("epoll_ctl(pidfd)", epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev));
	printf("epoll before exit: %d\n", epoll_wait(ep, &out, 1, 0));

	// pidfd_getfd: the child's end of the pipe it reads, as a new
	// close-on-exec fd here.
	int got_fd = pidfd_getfd(cfd, 0, 0);
	show("pidfd_getfd(child, 0)", got_fd);
	if (got_fd >= 0) {
		printf("getfd FD_CLOEXEC: %d\n", fcntl(got_fd, F_GETFD) & FD_CLOEXEC);
		close(got_fd);
	}
	show("pidfd_getfd(bad flags)", pidfd_getfd(cfd, 0, 1));
	show("pidfd_getfd(closed target fd)", pidfd_getfd(cfd, 999, 0));
	show("pidfd_getfd(not a pidfd)", pidfd_getfd(wake, 0, 0));

	if (write(wake, "x", 1) != 1)
		return 1;
	printf("poll after exit: %#x\n", readable(cfd, 5000));
	printf("epoll after exit: %d\n", epoll_wait(ep, &out, 1, 5000));
	show("send_signal(zombie, 0)", pidfd_send_signal(cfd, 0, NULL, 0));
	show("pidfd_getfd(zombie)", pidfd_getfd(cfd, 0, 0));
	siginfo_t wi;
	memset(&wi, 0, sizeof(wi));
	show("waitid(P_PIDFD, WEXITED)", waitid(P_PIDFD, cfd, &wi, WEXITED));
	printf("waitid: pid matches %d, code %d, status %d\n", wi.si_pid == child, wi.si_code, wi.si_status);
	printf("poll after reap: %#x\n", readable(cfd, 0));
	show("send_signal(reaped)", pidfd_send_signal(cfd, SIGTERM, NULL, 0));
	show("pidfd_getfd(reaped)", pidfd_getfd(cfd, 0, 0));
	show("waitid(P_PIDFD, reaped)", waitid(P_PIDFD, cfd, &wi, WEXITED));
	close(ep);
	close(cfd);
	close(wake);

	// waitid(P_PIDFD)'s errors, and PIDFD_NONBLOCK's EAGAIN.
	show("waitid(P_PIDFD, self)", waitid(P_PIDFD, self, &wi, WEXITED | WNOHANG));
	show("waitid(P_PIDFD, not a pidfd)", waitid(P_PIDFD, 0, &wi, WEXITED));
	show("waitid(P_PIDFD, -1)", waitid(P_PIDFD, -1, &wi, WEXITED));
	child = waiter(&wake);
	cfd = pidfd_open(child, PIDFD_NONBLOCK);
	printf("PIDFD_NONBLOCK: %d\n", !!(fcntl(cfd, F_GETFL) & O_NONBLOCK));
	show("waitid(P_PIDFD, nonblocking, running)", waitid(P_PIDFD, cfd, &wi, WEXITED));
	memset(&wi, 0, sizeof(wi));
	show("waitid(P_PIDFD, nonblocking, WNOHANG, running)", waitid(P_PIDFD, cfd, &wi, WEXITED | WNOHANG));
	printf("WNOHANG si_pid: %d\n", wi.si_pid);
	show("send_signal(child, SIGTERM)", pidfd_send_signal(cfd, SIGTERM, NULL, 0));
	readable(cfd, 5000);
	memset(&wi, 0, sizeof(wi));
	show("waitid(P_PIDFD, nonblocking, exited)", waitid(P_PIDFD, cfd, &wi, WEXITED));
	printf("waitid: code %d, status %d\n", wi.si_code, wi.si_status);
	close(cfd);
	close(wake);

	// clone(CLONE_PIDFD): the pidfd at parent_tid; with
	// CLONE_PARENT_SETTID it is EINVAL.
	int pfd = -1;
	pid_t c = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pfd, 0, 0);
	if (c == 0)
		_exit(5);
	show("clone(CLONE_PIDFD)", c);
	printf("pidfd set: %d, FD_CLOEXEC: %d\n", pfd >= 0, fcntl(pfd, F_GETFD) & FD_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("readlink: %s\n", buf);
	printf("poll: %#x\n", readable(pfd, 5000));
	memset(&wi, 0, sizeof(wi));
	show("waitid(P_PIDFD, clone child)", waitid(P_PIDFD, pfd, &wi, WEXITED));
	printf("waitid: pid matches %d, code %d, status %d\n", wi.si_pid == c, wi.si_code, wi.si_status);
	close(pfd);
	show("clone(CLONE_PIDFD|CLONE_PARENT_SETTID)",
	     syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &pfd, 0, 0));

	// Exit signal 0, as Go's probe (which shares the memory too): waitid
	// needs __WCLONE.
	pfd = -1;
	c = syscall(SYS_clone, CLONE_PIDFD | CLONE_VFORK, 0, &pfd, 0, 0);
	if (c == 0)
		_exit(0);
	show("clone(CLONE_PIDFD|CLONE_VFORK)", c);
	show("waitid(P_PIDFD, no __WCLONE)", waitid(P_PIDFD, pfd, &wi, WEXITED | WNOHANG));
	show("waitid(P_PIDFD, __WCLONE)", waitid(P_PIDFD, pfd, &wi, WEXITED | __WCLONE));
	close(pfd);
	close(self);
	return 0;
}
