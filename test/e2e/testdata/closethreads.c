// closethreads: a process with a second thread closes the files it
// opens (and their dups): first while the other thread is blocked
// reading a pipe, then while it is blocked in poll(2), then while it
// waits for a child through its pidfd (waitid(P_PIDFD), as Go's os/exec
// waits); what it read and each close's result are printed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int p[2], q[2], r[2], w[2], pidfd;

static void *reader(void *arg) {
	char c;
	(void)arg;
	return read(p[0], &c, 1) == 1 ? NULL : (void *)1;
}

static void *poller(void *arg) {
	struct pollfd pf = {.fd = q[0], .events = POLLIN};
	(void)arg;
	if (write(r[1], "r", 1) != 1)
		return (void *)1;
	return poll(&pf, 1, -1) == 1 ? NULL : (void *)1;
}

static void *waiter(void *arg) {
	siginfo_t info;
	(void)arg;
	if (write(r[1], "w", 1) != 1)
		return (void *)1;
	return waitid(P_PIDFD, pidfd, &info, WEXITED) == 0 && info.si_status == 7 ? NULL : (void *)1;
}

// rounds prints the fd its last open took, less base (fds the test's
// environment left open may come before the later ones).
static void rounds(const char *phase, const char *path, int n, int base) {
	char buf[16];
	int bad = 0;
	ssize_t got = 0;
	for (int i = 0; i < n; i++) {
		int f = open(path, O_RDONLY | O_CLOEXEC);
		got += read(f, buf, sizeof buf);
		int g = dup(f);
		bad += close(g) != 0;
		bad += close(f) != 0;
		bad += close(f) == 0; // closed already: EBADF
	}
	int f = open(path, O_RDONLY);
	printf("%s: read %zd, %d closes not as Linux's, next fd %d\n", phase, got, bad, f - base);
	close(f);
}

int main(int argc, char **argv) {
	pthread_t th;
	if (argc != 2 || pipe(p) != 0 || pipe(q) != 0 || pipe(r) != 0 || pthread_create(&th, NULL, reader, NULL) != 0) {
		perror("setup");
		return 1;
	}
	rounds("beside a read", argv[1], 20, 0);
	if (write(p[1], "x", 1) != 1 || pthread_join(th, NULL) != 0 || pthread_create(&th, NULL, poller, NULL) != 0) {
		perror("reader");
		return 1;
	}
	char c;
	if (read(r[0], &c, 1) != 1) {
		perror("ready");
		return 1;
	}
	usleep(100000); // the poller is in poll(2) on the server
	rounds("beside a poll", argv[1], 10, 0);
	if (write(q[1], "x", 1) != 1 || pthread_join(th, NULL) != 0) {
		perror("poller");
		return 1;
	}
	// A child that waits for a byte on pipe w, waited for through its
	// pidfd by the second thread.
	if (pipe(w) != 0) {
		perror("pipe");
		return 1;
	}
	pid_t child = fork();
	if (child == 0)
		_exit(read(w[0], &c, 1) == 1 ? 7 : 1);
	pidfd = syscall(SYS_pidfd_open, child, 0);
	if (child < 0 || pidfd < 0 || pthread_create(&th, NULL, waiter, NULL) != 0 || read(r[0], &c, 1) != 1) {
		perror("child");
		return 1;
	}
	usleep(100000); // the waiter is in waitid on the server
	rounds("beside a pidfd wait", argv[1], 10, pidfd);
	void *waited;
	if (write(w[1], "x", 1) != 1 || pthread_join(th, &waited) != 0) {
		perror("waiter");
		return 1;
	}
	printf("child waited through its pidfd: %s\n", waited == NULL ? "exit 7" : "failed");
	return 0;
}
