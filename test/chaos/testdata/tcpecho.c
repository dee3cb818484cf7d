// A loopback TCP echo: a forked child serves a listening socket (answers
// each line in upper case, one connection after another), the parent
// sends numbered lines and reads each answer. A server kill resets the
// established connection (ECONNRESET: a TCP connection is not rebuilt)
// while the listening socket comes back, so the client connects again
// and re-sends the line it had not got an answer for; the output does
// not show how often that happened.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in addr;

static int dial(void) {
	for (int try = 0; try < 1000; try++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s >= 0 && connect(s, (struct sockaddr *)&addr, sizeof addr) == 0) return s;
		if (s >= 0) close(s);
		usleep(10000);
	}
	printf("cannot connect: errno %d\n", errno);
	exit(1);
}

static void serve(int l) {
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == ECONNRESET) continue;
			_exit(3);
		}
		char buf[256];
		ssize_t n;
		while ((n = read(c, buf, sizeof buf)) > 0) {
			if (n >= 5 && memcmp(buf, "quit\n", 5) == 0) _exit(0);
			for (ssize_t i = 0; i < n; i++) buf[i] = buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i];
			if (write(c, buf, n) != n) break;
		}
		close(c);
	}
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	int rounds = argc > 1 ? atoi(argv[1]) : 3000;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof addr;
	if (bind(l, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(l, 16) < 0 ||
	    getsockname(l, (struct sockaddr *)&addr, &al) < 0) {
		printf("listen: errno %d\n", errno);
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) serve(l);
	close(l);
	int s = dial();
	for (int i = 0; i < rounds; i++) {
		char msg[32], buf[64];
		int len = snprintf(msg, sizeof msg, "line %d\n", i);
		int got = 0;
		if (write(s, msg, len) == len) {
			while (got < len) {
				ssize_t n = read(s, buf + got, len - got);
				if (n <= 0) break;
				got += n;
			}
		}
		if (got < len) {
			// Reset (or end of file after one): connect again and
			// re-send this line.
			close(s);
			s = dial();
			i--;
			continue;
		}
		buf[got] = 0;
		if (i % 100 == 0) printf("%s", buf);
	}
	const char *q = "quit\n";
	while (write(s, q, 5) != 5) {
		close(s);
		s = dial();
	}
	close(s);
	int st;
	waitpid(pid, &st, 0);
	printf("server exit %d\n", WEXITSTATUS(st));
	return 0;
}
