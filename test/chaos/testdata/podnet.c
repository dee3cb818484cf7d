// A sandbox talking to peers outside it, over a pod's interface
// (--network=sandbox): numbered TCP request/response exchanges with a
// server on the host end, one short connection each; UDP
// request/response with the host's echo server; and a listener that an
// outside client keeps reaching (a forked child). A server kill resets
// the TCP connections to the outside (ECONNRESET: they cannot be
// rebuilt) and may lose a datagram, while the listener comes back on its
// port: the application retries an exchange that failed, so its output
// does not depend on the kills. How often it retried goes to stderr.
//
// usage: podnet HOST TCPPORT UDPPORT LISTENPORT ROUNDS
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in tcp_peer, udp_peer;

// step names the call the parent is in, for the watchdog: a round
// stuck for a minute ends the program saying where.
static const char *volatile step = "start";
static volatile int round_no;

static void stuck(int sig) {
	(void)sig;
	char msg[128];
	int n = snprintf(msg, sizeof msg, "podnet: round %d stuck in %s\n", round_no, step);
	write(2, msg, n);
	_exit(4);
}

// wait_in waits up to ms for fd to be readable: 1 if it is, 0 if not.
static int wait_in(int fd, int ms) {
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (;;) {
		int n = poll(&p, 1, ms);
		if (n >= 0) return n > 0;
		if (errno != EINTR) return 0;
	}
}

// tcp_exchange sends "req i" on a new connection to the host, closes its
// side and reads the answer to end of file: 0 when it is "hello req i".
static int tcp_exchange(int i, char *out, size_t cap) {
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) return -1;
	char msg[32];
	int len = snprintf(msg, sizeof msg, "req %d", i);
	int ok = -1;
	size_t got = 0;
	step = "tcp connect";
	if (connect(s, (struct sockaddr *)&tcp_peer, sizeof tcp_peer) != 0) goto out;
	step = "tcp write";
	if (write(s, msg, len) != len || shutdown(s, SHUT_WR) != 0) goto out;
	for (;;) {
		step = "tcp poll";
		if (!wait_in(s, 5000)) goto out;
		step = "tcp read";
		ssize_t n = read(s, out + got, cap - 1 - got);
		if (n < 0) goto out;
		if (n == 0) break;
		got += n;
		if (got == cap - 1) goto out;
	}
	out[got] = 0;
	char want[48];
	snprintf(want, sizeof want, "hello %s", msg);
	ok = strcmp(out, want) == 0 ? 0 : -1;
out:
	close(s);
	return ok;
}

// udp_exchange sends "u i" and waits for "echo:u i", re-sending after
// 300 ms of silence (answers to earlier sends are skipped); it returns
// how many times it re-sent, or -1 if it gave up.
static int udp_exchange(int s, int i, char *out, size_t cap) {
	char msg[32];
	int len = snprintf(msg, sizeof msg, "u %d", i);
	char want[48];
	snprintf(want, sizeof want, "echo:%s", msg);
	for (int try = 0; try < 400; try++) {
		step = "udp send";
		if (send(s, msg, len, 0) != len) {
			usleep(100000);
			continue;
		}
		step = "udp poll";
		while (wait_in(s, 300)) {
			// Not blocking: a datagram poll reported may be gone
			// after a server failure (docs/COMPATIBILITY.md).
			step = "udp recv";
			ssize_t n = recv(s, out, cap - 1, MSG_DONTWAIT);
			if (n < 0) break;
			out[n] = 0;
			if (strcmp(out, want) == 0) return try;
		}
	}
	return -1;
}

// serve answers "ping i" with "pong i" on each connection until "quit",
// then writes how many distinct requests it served to served.txt (an
// outside client that lost an answer asks again: counted once).
static void serve(int l) {
	int served = 0, last = -1;
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == ECONNRESET) continue;
			_exit(3);
		}
		char buf[64];
		size_t got = 0;
		while (got < sizeof buf - 1 && (got == 0 || buf[got - 1] != '\n')) {
			if (!wait_in(c, 5000)) break;
			ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
			if (n <= 0) break;
			got += n;
		}
		buf[got] = 0;
		int i;
		if (strcmp(buf, "quit\n") == 0) {
			write(c, "bye\n", 4);
			close(c);
			FILE *f = fopen("served.txt", "w");
			fprintf(f, "listener: %d requests, last %d\n", served, last);
			fclose(f);
			_exit(0);
		}
		if (sscanf(buf, "ping %d\n", &i) == 1) {
			char ans[32];
			int len = snprintf(ans, sizeof ans, "pong %d\n", i);
			if (write(c, ans, len) == len && i != last) {
				served++;
				last = i;
			}
		}
		close(c);
	}
}

static void addr(struct sockaddr_in *a, const char *ip, const char *port) {
	a->sin_family = AF_INET;
	a->sin_port = htons(atoi(port));
	if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) {
		printf("bad address %s\n", ip);
		exit(2);
	}
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: podnet HOST TCPPORT UDPPORT LISTENPORT ROUNDS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	addr(&tcp_peer, argv[1], argv[2]);
	addr(&udp_peer, argv[1], argv[3]);
	int rounds = atoi(argv[5]);

	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[4]))};
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&any, sizeof any) < 0 || listen(l, 16) < 0) {
		printf("listen: errno %d\n", errno);
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) serve(l);
	close(l);

	int u = socket(AF_INET, SOCK_DGRAM, 0);
	if (u < 0 || connect(u, (struct sockaddr *)&udp_peer, sizeof udp_peer) < 0) {
		printf("udp: errno %d\n", errno);
		return 1;
	}
	int tcp_retries = 0, udp_resends = 0;
	signal(SIGALRM, stuck);
	for (int i = 0; i < rounds; i++) {
		round_no = i;
		alarm(60);
		char t[64], d[64];
		int try = 0;
		while (tcp_exchange(i, t, sizeof t) != 0) {
			if (++try == 400) {
				printf("round %d: tcp failed %d times: errno %d\n", i, try, errno);
				return 1;
			}
			tcp_retries++;
			usleep(20000);
		}
		int r = udp_exchange(u, i, d, sizeof d);
		if (r < 0) {
			printf("round %d: no udp answer\n", i);
			return 1;
		}
		udp_resends += r;
		if (i % 25 == 0) printf("round %d: %s | %s\n", i, t, d);
	}
	alarm(0);
	printf("%d rounds\n", rounds);
	fprintf(stderr, "podnet retries: tcp %d udp %d\n", tcp_retries, udp_resends);
	int st;
	waitpid(pid, &st, 0);
	printf("listener exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}
