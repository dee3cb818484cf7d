// SCM_RIGHTS passing a pipe's read end and a file to a forked process;
// SCM_CREDENTIALS with SO_PASSCRED; MSG_CTRUNC.
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int sendfds(int s, const int *fds, int n, const char *data) {
	char ctl[CMSG_SPACE(4 * 8)];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = {.iov_base = (void *)data, .iov_len = strlen(data)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = CMSG_SPACE(4 * n)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(4 * n);
	memcpy(CMSG_DATA(c), fds, 4 * n);
	return sendmsg(s, &m, 0);
}

static int recvfds(int s, int *fds, int max, char *data, size_t dlen, int *flags, size_t ctlspace) {
	char ctl[256];
	struct iovec iov = {.iov_base = data, .iov_len = dlen};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = ctlspace};
	ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
	if (n < 0) return -1;
	*flags = m.msg_flags;
	int got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / 4;
			for (int i = 0; i < k && got < max; i++) memcpy(&fds[got++], CMSG_DATA(c) + 4 * i, 4);
		}
	}
	data[n] = 0;
	return got;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int sv[2], p[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(p);
	unlink("scm-file");
	int file = open("scm-file", O_CREAT | O_RDWR | O_TRUNC, 0644);
	write(file, "file contents\n", 14);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		int fds[4], flags;
		char data[64];
		int n = recvfds(sv[1], fds, 4, data, sizeof data - 1, &flags, 256);
		// The parent writes to the pipe after it printed: print after.
		char buf[64] = {0};
		ssize_t r = read(fds[0], buf, sizeof buf - 1);
		printf("child: %d fds with \"%s\" flags %#x\n", n, data, flags);
		printf("child: cloexec %d\n", !!(fcntl(fds[0], F_GETFD) & FD_CLOEXEC));
		printf("child: pipe read %zd: %s\n", r, buf);
		lseek(fds[1], 0, SEEK_SET);
		memset(buf, 0, sizeof buf);
		r = read(fds[1], buf, sizeof buf - 1);
		printf("child: file read %zd: %s", r, buf);
		write(fds[1], "appended by the child\n", 22);
		_exit(0);
	}
	close(sv[1]);
	int fds[2] = {p[0], file};
	TRYN("sendmsg", sendfds(sv[0], fds, 2, "two fds"));
	write(p[1], "through the pipe", 16);
	close(p[1]);
	int st;
	waitpid(pid, &st, 0);
	printf("child exit %d\n", WEXITSTATUS(st));
	lseek(file, 0, SEEK_SET);
	char buf[128] = {0};
	read(file, buf, sizeof buf - 1);
	printf("file now:\n%s", buf);
	close(sv[0]);

	// Too small a control buffer: MSG_CTRUNC, the fds are dropped.
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	int three[3] = {0, 1, 2};
	sendfds(sv[0], three, 3, "three");
	int got[4], flags;
	char data[64];
	int n = recvfds(sv[1], got, 4, data, sizeof data - 1, &flags, CMSG_SPACE(4));
	printf("truncated: %d fds, ctrunc %d, data %s\n", n, !!(flags & MSG_CTRUNC), data);
	int bad = 999;
	TRY("send a bad fd", sendfds(sv[0], &bad, 1, "bad"));

	// Credentials.
	int on = 1;
	setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
	send(sv[0], "who", 3, 0);
	char ctl[256];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
	TRYN("recvmsg with SO_PASSCRED", recvmsg(sv[1], &m, 0));
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_type == SCM_CREDENTIALS) {
		struct ucred cr;
		memcpy(&cr, CMSG_DATA(c), sizeof cr);
		printf("creds: mine %d uid %d gid %d len %zu\n", cr.pid == getpid(), cr.uid, cr.gid, (size_t)c->cmsg_len);
	} else {
		printf("no creds\n");
	}
	struct ucred me = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
	char cbuf[CMSG_SPACE(sizeof me)];
	struct iovec iov2 = {.iov_base = "c", .iov_len = 1};
	struct msghdr m2 = {.msg_iov = &iov2, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *cc = CMSG_FIRSTHDR(&m2);
	cc->cmsg_level = SOL_SOCKET;
	cc->cmsg_type = SCM_CREDENTIALS;
	cc->cmsg_len = CMSG_LEN(sizeof me);
	memcpy(CMSG_DATA(cc), &me, sizeof me);
	TRYN("sendmsg SCM_CREDENTIALS", sendmsg(sv[0], &m2, 0));
	m.msg_controllen = sizeof ctl;
	TRYN("recvmsg", recvmsg(sv[1], &m, 0));
	printf("creds cmsg: %d\n", CMSG_FIRSTHDR(&m) != NULL && CMSG_FIRSTHDR(&m)->cmsg_type == SCM_CREDENTIALS);
	unlink("scm-file");
	return 0;
}
