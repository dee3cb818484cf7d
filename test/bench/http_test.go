package bench

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// httpLoopC is a loopback HTTP/1.1 request loop in one program: a forked
// server answers GET requests with a 13-byte body; the client sends
// MAXREQ requests one after the other and checks every response. "close"
// opens a new connection per request (Connection: close, the server
// closes after answering: socket, connect, accept, the exchange and two
// closes per request); "keepalive" sends them all on one connection. It
// stops after MAXREQ requests or once BUDGET_MS have passed (checked
// every 10 requests) and prints nanoseconds per request and the number
// of requests.
const httpLoopC = `
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static long long now(void) {
	struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static void die(const char *what) { perror(what); exit(1); }
static const char body[] = "hello, world\n";
/* readreq reads one request (up to its blank line) into buf; 0 at end of file. */
static int readreq(int s, char *buf, int cap) {
	int n = 0;
	while (n < 4 || memcmp(buf + n - 4, "\r\n\r\n", 4) != 0) {
		if (n == cap) return -1;
		int r = read(s, buf + n, cap - n);
		if (r <= 0) return r;
		n += r;
	}
	return n;
}
static void serve(int ls, int keepalive) {
	char req[1024], resp[256];
	int rl = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s",
		(int)strlen(body), keepalive ? "keep-alive" : "close", body);
	for (;;) {
		int s = accept(ls, NULL, NULL);
		if (s < 0) die("accept");
		int one = 1;
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		for (;;) {
			int n = readreq(s, req, sizeof req);
			if (n <= 0) break;
			if (write(s, resp, rl) != rl) die("server write");
			if (!keepalive) break;
		}
		close(s);
	}
}
/* response reads one response and checks its status and body. */
static void response(int s) {
	char buf[512];
	int n = 0, want = -1;
	for (;;) {
		int r = read(s, buf + n, sizeof buf - 1 - n);
		if (r <= 0) die("client read");
		n += r; buf[n] = 0;
		char *end = strstr(buf, "\r\n\r\n");
		if (end && want < 0) want = (end + 4 - buf) + (int)strlen(body);
		if (want >= 0 && n >= want) break;
	}
	if (strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) != 0 || strcmp(buf + n - strlen(body), body) != 0) {
		fprintf(stderr, "bad response: %s\n", buf); exit(1);
	}
}
int main(int argc, char **argv) {
	if (argc != 4) { fprintf(stderr, "usage: close|keepalive MAXREQ BUDGET_MS\n"); return 2; }
	int keepalive = !strcmp(argv[1], "keepalive");
	if (!keepalive && strcmp(argv[1], "close")) { fprintf(stderr, "unknown mode %s\n", argv[1]); return 2; }
	long n = atol(argv[2]);
	long long budget = atoll(argv[3]) * 1000000LL;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 128) < 0) die("listen");
	if (getsockname(ls, (struct sockaddr *)&a, &al) < 0) die("getsockname");
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) serve(ls, keepalive);
	close(ls);
	char req[128];
	int ql = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: %s\r\n\r\n", keepalive ? "keep-alive" : "close");
	int s = -1, one = 1;
	long long t0 = now(), t1 = t0;
	long i = 0;
	while (i < n) {
		for (long j = 0; j < 10 && i < n; j++, i++) {
			if (s < 0) {
				s = socket(AF_INET, SOCK_STREAM, 0);
				if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
				setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			}
			if (write(s, req, ql) != ql) die("client write");
			response(s);
			if (!keepalive) { close(s); s = -1; }
		}
		t1 = now();
		if (t1 - t0 > budget) break;
	}
	if (s >= 0) close(s);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("%lld %ld\n", (t1 - t0) / i, i);
	return 0;
}
`

// BenchmarkHTTP reports ns per loopback HTTP request, measured inside
// the application, for each mode side by side, and for a server with
// --network=host (the requests then cross the host's loopback): "close"
// is a new connection per request, "keepalive" one connection for all.
func BenchmarkHTTP(b *testing.B) {
	tu.RequireRoot(b)
	dir := b.TempDir()
	prog := tu.StaticProgram(b, dir, "httploop", httpLoopC)
	ms := modes(b, dir)
	g := tu.StartDaemon(b, dir, "gofer-nethost", "gofer", "--root", "/")
	hs := tu.StartDaemon(b, dir, "server-nethost", "server", "--gofer", g.Target, "--network", "host")
	bin := tu.Binary(b)
	ms = append(ms, mode{name: "sandbox-unix-nethost", argv: func(cwd string, prog ...string) []string {
		return append([]string{bin, "do", "--server", hs.Target, "--cwd", cwd, "--"}, prog...)
	}})
	const maxRequests, budgetMS = 10000, 5000
	for _, op := range []string{"close", "keepalive"} {
		for _, m := range ms {
			b.Run(op+"/"+m.name, func(b *testing.B) {
				if m.skip != "" {
					b.Skip(m.skip)
				}
				var total, reqs float64
				for i := 0; i < b.N; i++ {
					argv := m.argv(dir, prog, op, strconv.Itoa(maxRequests), strconv.Itoa(budgetMS))
					r := tu.Run(b, 2*time.Minute, dir, "", argv...)
					if r.ExitCode != 0 {
						b.Fatalf("%q: exit %d: %s", argv, r.ExitCode, r.Stderr)
					}
					var ns, n float64
					if _, err := fmt.Sscan(r.Stdout, &ns, &n); err != nil {
						b.Fatalf("%q: output %q: %v", argv, r.Stdout, err)
					}
					total, reqs = total+ns, reqs+n
				}
				b.ReportMetric(total/float64(b.N), "ns/request")
				b.ReportMetric(reqs/float64(b.N), "requests")
			})
		}
	}
}
