// A request-response loop on one loopback TCP connection, as a
// keepalive HTTP client and server exchange: a forked child answers each
// 40-byte request with a 70-byte response; the parent checks every
// response. Usage: reqloop N [send]: with "send", send(MSG_NOSIGNAL) and
// recv instead of write and read. Prints the requests answered and a sum
// of the responses' bytes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int use_send;

static int put(int s, const char *buf, int n) {
	return use_send ? send(s, buf, n, MSG_NOSIGNAL) : write(s, buf, n);
}

static int readn(int s, char *buf, int n) {
	int got = 0;
	while (got < n) {
		int r = use_send ? recv(s, buf + got, n - got, 0) : read(s, buf + got, n - got);
		if (r <= 0) return r;
		got += r;
	}
	return got;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) return 2;
	long n = atol(argv[1]);
	use_send = argc > 2 && strcmp(argv[2], "send") == 0;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
		perror("listen");
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		int s = accept(ls, NULL, NULL);
		char req[40], resp[70];
		for (;;) {
			if (readn(s, req, sizeof req) != sizeof req) break;
			for (int i = 0; i < (int)sizeof resp; i++) resp[i] = req[i % sizeof req] + 1;
			if (put(s, resp, sizeof resp) != sizeof resp) {
				perror("child write");
				return 1;
			}
		}
		return 0;
	}
	close(ls);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("connect");
		return 1;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	long sum = 0, i;
	for (i = 0; i < n; i++) {
		char req[40], resp[70];
		memset(req, 'a' + i % 26, sizeof req);
		if (put(s, req, sizeof req) != sizeof req) {
			perror("write");
			return 1;
		}
		if (readn(s, resp, sizeof resp) != sizeof resp) {
			perror("read");
			return 1;
		}
		for (int j = 0; j < (int)sizeof resp; j++) {
			if (resp[j] != req[j % sizeof req] + 1) {
				printf("bad response %ld\n", i);
				return 1;
			}
			sum += resp[j];
		}
	}
	close(s);
	int st;
	waitpid(pid, &st, 0);
	printf("%ld requests, sum %ld, child exit %d\n", i, sum, WEXITSTATUS(st));
	return 0;
}
