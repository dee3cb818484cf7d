// ssdiag: what ss (iproute2) lists of the program's own sockets. ss asks
// NETLINK_SOCK_DIAG first and falls back to /proc/net only when it
// cannot ("Cannot open netlink socket" on stderr, and then no listener
// backlog, no unix peer). The program makes a TCP listener, a
// connection to it and its accepted end (five bytes unread) on
// 127.0.0.1 and on ::1, a bound UDP socket and one connected to it, and
// unix sockets (a listener on a path, a client of it and its accepted
// end, a connected pair, a datagram socket bound to an abstract name),
// all close-on-exec, then runs ss -tanp, -uanp, -xanp and -tlnp. Of
// each listing it prints the header and the lines ss names this
// process in, sorted (ss lists in the kernel's hash order), with what
// changes from run to run named instead: ports, inode numbers, the
// directory, the abstract name and the pid. Then ss's stderr and exit
// status.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

#define MAXFDS 32
static struct {
	const char *name;
	int fd;
	unsigned long ino;
	int port;
} socks[MAXFDS];
static int nsocks;
static char dir[] = "/tmp/ssdiagXXXXXX";
static char abstract[64];

static void add(const char *name, int fd) {
	char link[64], target[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n < 0) die(link);
	target[n] = 0;
	if (sscanf(target, "socket:[%lu]", &socks[nsocks].ino) != 1) die(target);
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &l) == 0) {
		if (ss.ss_family == AF_INET) socks[nsocks].port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		if (ss.ss_family == AF_INET6) socks[nsocks].port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	socks[nsocks].fd = fd;
	socks[nsocks++].name = name;
}

// word rewrites one field of ss's output into out.
static void word(const char *w, char *out, size_t size) {
	char *end;
	// An inode number (unix sockets' columns).
	unsigned long v = strtoul(w, &end, 10);
	if (*w && *end == 0) {
		for (int i = 0; i < nsocks; i++)
			if (socks[i].ino == v && v != 0) {
				snprintf(out, size, "ino(%s)", socks[i].name);
				return;
			}
		snprintf(out, size, "%s", w);
		return;
	}
	// An address and port.
	const char *colon = strrchr(w, ':');
	if (colon && colon[1] >= '1' && colon[1] <= '9') {
		int port = strtol(colon + 1, &end, 10);
		if (*end == 0)
			for (int i = 0; i < nsocks; i++)
				if (socks[i].port == port) {
					snprintf(out, size, "%.*s:port(%s)", (int)(colon - w), w, socks[i].name);
					return;
				}
	}
	if (!strncmp(w, dir, strlen(dir))) {
		snprintf(out, size, "DIR%s", w + strlen(dir));
		return;
	}
	if (w[0] == '@' && !strcmp(w + 1, abstract)) {
		snprintf(out, size, "@(the abstract name)");
		return;
	}
	// users:(("ssdiag",pid=N,fd=M)): the pid, and the fd by its
	// socket's name (fds the program inherited shift the numbers).
	const char *p = strstr(w, ",pid="), *q = p ? strstr(p, ",fd=") : NULL;
	if (q) {
		int fd = atoi(q + 4);
		const char *name = "?";
		for (int i = 0; i < nsocks; i++)
			if (socks[i].fd == fd) name = socks[i].name;
		const char *rest = strchr(q + 4, ')');
		snprintf(out, size, "%.*s,pid=PID,fd(%s)%s", (int)(p - w), w, name, rest ? rest : "");
		return;
	}
	snprintf(out, size, "%s", w);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void ss(const char *opts) {
	int out[2], err[2];
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) die("pipe");
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		execl("/usr/bin/ss", "ss", opts, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	printf("== ss %s\n", opts);
	FILE *f = fdopen(out[0], "r");
	char mine[32], line[1024];
	snprintf(mine, sizeof mine, ",pid=%d,", getpid());
	char *lines[64];
	int n = 0, first = 1;
	while (fgets(line, sizeof line, f)) {
		if (!first && !strstr(line, mine)) continue;
		// The Process column follows the Port column with no space
		// (ss pads each column to its widest, native's over the
		// host's sockets too): split them; the header's words, whose
		// spacing follows the same widths, are joined.
		char spaced[1100] = "";
		char *u = strstr(line, "users:((");
		if (u) snprintf(spaced, sizeof spaced, "%.*s %s", (int)(u - line), line, u);
		else snprintf(spaced, sizeof spaced, "%s", line);
		char norm[1100] = "";
		for (char *w = strtok(spaced, " \t\n"); w; w = strtok(NULL, " \t\n")) {
			char o[256];
			word(w, o, sizeof o);
			if (norm[0] && !first) strcat(norm, " ");
			strncat(norm, o, sizeof norm - strlen(norm) - 1);
		}
		if (first) {
			printf("%s\n", norm);
			first = 0;
		} else if (n < 64) {
			lines[n++] = strdup(norm);
		}
	}
	fclose(f);
	qsort(lines, n, sizeof *lines, cmp);
	for (int i = 0; i < n; i++) printf("%s\n", lines[i]);
	f = fdopen(err[0], "r");
	while (fgets(line, sizeof line, f)) printf("stderr: %s", line);
	fclose(f);
	int status;
	if (waitpid(pid, &status, 0) != pid) die("waitpid");
	printf("exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static int tcpPair(int family, const char *lname, const char *cname, const char *aname) {
	int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0) die("socket");
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof *a;
	}
	if (bind(l, (struct sockaddr *)&ss, len) != 0 || listen(l, 4) != 0) die("bind/listen");
	socklen_t got = sizeof ss;
	if (getsockname(l, (struct sockaddr *)&ss, &got) != 0) die("getsockname");
	int c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, got) != 0) die("connect");
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (a < 0) die("accept");
	add(lname, l);
	add(cname, c);
	add(aname, a);
	if (write(c, "hello", 5) != 5) die("write");
	return a;
}

int main(void) {
	int a4 = tcpPair(AF_INET, "listener4", "client4", "accepted4");
	int a6 = tcpPair(AF_INET6, "listener6", "client6", "accepted6");

	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (u < 0 || bind(u, (struct sockaddr *)&ua, sizeof ua) != 0) die("udp bind");
	socklen_t ul = sizeof ua;
	if (getsockname(u, (struct sockaddr *)&ua, &ul) != 0) die("udp getsockname");
	add("udp-bound", u);
	int uc = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (uc < 0 || connect(uc, (struct sockaddr *)&ua, sizeof ua) != 0) die("udp connect");
	add("udp-connected", uc);

	if (!mkdtemp(dir)) die("mkdtemp");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/listen.sock", dir);
	int ul2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ul2 < 0 || bind(ul2, (struct sockaddr *)&sun, sizeof sun) != 0 || listen(ul2, 1) != 0) die("unix listen");
	add("unix-listener", ul2);
	int uc2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (uc2 < 0 || connect(uc2, (struct sockaddr *)&sun, sizeof sun) != 0) die("unix connect");
	int ua2 = accept4(ul2, NULL, NULL, SOCK_CLOEXEC);
	if (ua2 < 0) die("unix accept");
	add("unix-client", uc2);
	add("unix-accepted", ua2);
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) die("socketpair");
	add("unix-pair0", sp[0]);
	add("unix-pair1", sp[1]);
	snprintf(abstract, sizeof abstract, "ssdiag-%d", getpid());
	struct sockaddr_un abs = {.sun_family = AF_UNIX};
	memcpy(abs.sun_path + 1, abstract, strlen(abstract));
	int ud = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ud < 0 || bind(ud, (struct sockaddr *)&abs, offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abstract)) != 0)
		die("unix abstract bind");
	add("unix-abstract", ud);

	// Let the bytes written reach the accepted ends.
	char b;
	if (recv(a4, &b, 1, MSG_PEEK) != 1 || recv(a6, &b, 1, MSG_PEEK) != 1) die("peek");
	usleep(100000);

	ss("-tanp");
	ss("-uanp");
	ss("-xanp");
	ss("-tlnp");
	unlink(sun.sun_path);
	rmdir(dir);
	return 0;
}
