// A host-network listener and one connection across a server kill
// (--network=host): the test's native peer connects and exchanges a
// line; the program says phase1 (a file) and waits for the file "go"
// while the test kills the remote sentry. The listener must come back
// on the same address (the peer connects again), and the connection
// must poll as a reset one (POLLERR until the reset is taken), fail
// with ECONNRESET, then read end of file (SO_ERROR 0), then fail writes
// with EPIPE.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void exchange(int ls, const char *what) {
	int s = accept(ls, NULL, NULL);
	char buf[64] = {0};
	ssize_t n = recv(s, buf, sizeof buf - 1, 0);
	printf("%s: recv %zd: %s", what, n, buf);
	printf("%s: send %zd\n", what, send(s, "pong\n", 5, MSG_NOSIGNAL));
	if (strcmp(what, "before") == 0) {
		close(open("phase1", O_CREAT | O_WRONLY, 0644));
		while (access("go", F_OK) != 0) usleep(10000);
		struct pollfd p = {.fd = s, .events = POLLIN | POLLOUT | POLLRDHUP};
		int np = poll(&p, 1, 0);
		printf("old conn poll: %d revents %#x\n", np, p.revents);
		errno = 0;
		n = recv(s, buf, sizeof buf, 0);
		printf("old conn recv: %zd errno %d\n", n, n < 0 ? errno : 0);
		errno = 0;
		n = recv(s, buf, sizeof buf, 0);
		printf("old conn recv again: %zd errno %d\n", n, n < 0 ? errno : 0);
		int e = -1;
		socklen_t el = sizeof e;
		getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el);
		printf("old conn SO_ERROR: %d\n", e);
		errno = 0;
		n = send(s, "x", 1, MSG_NOSIGNAL);
		printf("old conn send: %zd errno %d\n", n, n < 0 ? errno : 0);
	}
	close(s);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) return 2;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4) < 0) {
		printf("listen: errno %d\n", errno);
		return 1;
	}
	exchange(ls, "before");
	exchange(ls, "after");
	return 0;
}
