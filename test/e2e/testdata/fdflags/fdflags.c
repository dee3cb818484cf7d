// fdflags: every way an fd gets or loses its close-on-exec flag, each
// fd's flag read back (F_GETFD) after each change, 20 rounds of F_SETFD
// toggles, then an exec of itself that reports which fds survived.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void show(const char *what, const char *name, int fd) {
	int v = fcntl(fd, F_GETFD);
	printf("%s %s: %d\n", what, name, v < 0 ? -1 : v);
}

int main(int argc, char **argv) {
	if (argc > 1) {
		// After the exec: which of the fds named in argv (name=fd) are
		// still open.
		for (int i = 1; i < argc; i++) {
			char *eq = strchr(argv[i], '=');
			*eq = 0;
			printf("after exec %s: %s\n", argv[i], fcntl(atoi(eq + 1), F_GETFD) >= 0 ? "open" : "closed");
		}
		return 0;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("pipe2");
		return 1;
	}
	int a = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	int b = open("/etc/passwd", O_RDONLY);
	int c = dup(a);
	int d = fcntl(b, F_DUPFD_CLOEXEC, 40);
	int e = dup3(b, 50, O_CLOEXEC);
	int f = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int g = dup2(e, 51);
	if (a < 0 || b < 0 || c < 0 || d < 0 || e < 0 || f < 0 || g < 0) {
		perror("setup");
		return 1;
	}
	int fds[] = {p[0], p[1], a, b, c, d, e, f, g};
	const char *names[] = {"pipe2 read", "pipe2 write", "open O_CLOEXEC", "open", "dup", "F_DUPFD_CLOEXEC", "dup3 O_CLOEXEC", "socket", "dup2"};
	int n = sizeof(fds) / sizeof(fds[0]);
	for (int i = 0; i < n; i++) {
		show("made by", names[i], fds[i]);
	}
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < n; i++) {
			int v = fcntl(fds[i], F_GETFD);
			if (fcntl(fds[i], F_SETFD, v ^ FD_CLOEXEC) != 0) {
				perror("F_SETFD");
				return 1;
			}
			if (fcntl(fds[i], F_GETFD) != (v ^ FD_CLOEXEC)) {
				printf("round %d: %s did not toggle\n", round, names[i]);
			}
		}
	}
	// Every other fd keeps the flag; a closed fd is EBADF.
	char *args[32] = {argv[0]};
	for (int i = 0; i < n; i++) {
		fcntl(fds[i], F_SETFD, i % 2 ? FD_CLOEXEC : 0);
		show("before exec", names[i], fds[i]);
		if (asprintf(&args[i + 1], "%s=%d", names[i], fds[i]) < 0) {
			return 1;
		}
	}
	close(c);
	show("closed", names[4], c);
	fflush(stdout);
	execv(argv[0], args);
	perror("execl");
	return 1;
}
