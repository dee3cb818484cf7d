// Writes to a pipe the client may post (sentry/client/pipebehind.go), and
// writes after the pipe's last reader left, which must fail with EPIPE
// and raise SIGPIPE as on Linux.
//
//   pipebehind own    writes 16 x 1000 bytes to a pipe of its own (fds 3
//                     and 4), reads them back, closes the read end and
//                     writes again: EPIPE, SIGPIPE.
//   pipebehind child  a forked child reads one byte and exits; after
//                     waiting for it, the parent's write fails: EPIPE,
//                     SIGPIPE.
//   pipebehind shared the parent reads the first of three 1000-byte
//                     writes (the client may keep a copy of the other
//                     two), a forked child reads the second, the parent
//                     the third: each reads its own.
//   pipebehind readv  the same in one process, with readv for the
//                     second.
//   pipebehind other  writes to a pipe of its own (fds 3 and 4), then
//                     closes both ends of a second pipe (fds 5 and 6)
//                     after reading its end, then the first pipe's read
//                     end: the write after it fails: EPIPE, SIGPIPE.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t sigpipes;

static void onpipe(int sig) { (void)sig; sigpipes++; }

static void die(const char *what) {
	perror(what);
	exit(1);
}

// lateWrite writes after the last reader left and reports what Linux
// gives: -1 with EPIPE, and one SIGPIPE.
static void lateWrite(int w) {
	ssize_t n = write(w, "z", 1);
	printf("late write: %zd %s, SIGPIPE %d\n", n, n < 0 ? strerror(errno) : "-", (int)sigpipes);
}

int main(int argc, char **argv) {
	int p[2];
	if (argc != 2) {
		fprintf(stderr, "usage: pipebehind own|child|shared|readv|other\n");
		return 2;
	}
	if (signal(SIGPIPE, onpipe) == SIG_ERR) die("signal");
	if (pipe(p) != 0) die("pipe");
	if (!strcmp(argv[1], "own")) {
		static char buf[16000], got[16000];
		for (int i = 0; i < (int)sizeof buf; i++) buf[i] = 'a' + i % 26;
		for (int i = 0; i < 16; i++) {
			if (write(p[1], buf + i * 1000, 1000) != 1000) die("write");
		}
		size_t have = 0;
		while (have < sizeof got) {
			ssize_t n = read(p[0], got + have, 4096);
			if (n <= 0) die("read");
			have += n;
		}
		printf("read %zu bytes back, %s\n", have, memcmp(buf, got, sizeof buf) ? "different" : "the same");
		if (close(p[0]) != 0) die("close");
		lateWrite(p[1]);
		return 0;
	}
	if (!strcmp(argv[1], "other")) {
		static char buf[1000];
		int q[2];
		memset(buf, 'o', sizeof buf);
		for (int i = 0; i < 4; i++) {
			if (write(p[1], buf, sizeof buf) != sizeof buf) die("write");
		}
		if (pipe(q) != 0) die("pipe");
		if (close(q[1]) != 0) die("close");
		char c;
		ssize_t n = read(q[0], &c, 1);
		printf("other pipe read %zd\n", n);
		if (close(q[0]) != 0) die("close");
		if (write(p[1], buf, sizeof buf) != sizeof buf) die("write after the other pipe's close");
		if (close(p[0]) != 0) die("close");
		lateWrite(p[1]);
		return 0;
	}
	if (!strcmp(argv[1], "readv")) {
		static char buf[1000];
		for (char c = 'a'; c <= 'c'; c++) {
			memset(buf, c, sizeof buf);
			if (write(p[1], buf, sizeof buf) != sizeof buf) die("write");
		}
		for (int i = 0; i < 3; i++) {
			struct iovec iov = {buf, sizeof buf};
			ssize_t n = i == 1 ? readv(p[0], &iov, 1) : read(p[0], buf, sizeof buf);
			if (n != sizeof buf) die("read");
			printf("%s %c%c\n", i == 1 ? "readv" : "read", buf[0], buf[sizeof buf - 1]);
		}
		return 0;
	}
	if (!strcmp(argv[1], "shared")) {
		static char buf[1000];
		for (char c = 'a'; c <= 'c'; c++) {
			memset(buf, c, sizeof buf);
			if (write(p[1], buf, sizeof buf) != sizeof buf) die("write");
		}
		if (read(p[0], buf, sizeof buf) != sizeof buf) die("read");
		printf("parent read %c\n", buf[0]);
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) die("fork");
		if (pid == 0) {
			if (read(p[0], buf, sizeof buf) != sizeof buf) die("child read");
			printf("child read %c%c\n", buf[0], buf[sizeof buf - 1]);
			fflush(stdout);
			_exit(0);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid) die("waitpid");
		if (read(p[0], buf, sizeof buf) != sizeof buf) die("read");
		printf("parent read %c%c\n", buf[0], buf[sizeof buf - 1]);
		return 0;
	}
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		char c;
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	if (write(p[1], "ab", 2) != 2) die("write");
	int status;
	if (waitpid(pid, &status, 0) != pid) die("waitpid");
	printf("child exited %d\n", WEXITSTATUS(status));
	lateWrite(p[1]);
	return 0;
}
