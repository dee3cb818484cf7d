// procnet: the program's own sockets as /proc/net/{tcp,tcp6,udp,udp6,unix}
// show them: a TCP listener, a connection to it and its accepted end on
// 127.0.0.1 and on ::1, a bound UDP socket and a connected one, and unix
// sockets (a listener bound to a path, a client of it and its accepted
// end, a connected pair, a datagram socket bound to an abstract name).
// Each line of the file whose inode is one of this program's fds is
// printed with the fd's name instead of numbers that change from run to
// run (ports, inodes), so that the output can be compared with Linux's.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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
	// line is what a file said of it (printed in this order, not the
	// file's, which is Linux's hash order).
	char line[512];
} socks[MAXFDS];
static char absname[32];
static int nsocks;

static void add(const char *name, int fd) {
	char link[64], target[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	if (n < 0) die(link);
	target[n] = 0;
	if (sscanf(target, "socket:[%lu]", &socks[nsocks].ino) != 1) die(target);
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	int port = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &l) == 0) {
		if (ss.ss_family == AF_INET) port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		if (ss.ss_family == AF_INET6) port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	socks[nsocks].name = name;
	socks[nsocks].fd = fd;
	socks[nsocks].port = port;
	nsocks++;
}

// flush prints the lines found, in the order the sockets were made.
static void flush(void) {
	for (int i = 0; i < nsocks; i++) {
		fputs(socks[i].line, stdout);
		socks[i].line[0] = 0;
	}
}

// portName names a port: one of ours, or 0.
static const char *portName(int port) {
	static char buf[32];
	if (port == 0) return "0";
	for (int i = 0; i < nsocks; i++)
		if (socks[i].port == port) return socks[i].name;
	snprintf(buf, sizeof buf, "other");
	return buf;
}

// showInet prints the lines of file that are our sockets: the fd's name,
// the local and remote addresses with ports named, the state and the
// queues.
static void showInet(const char *file) {
	FILE *f = fopen(file, "r");
	if (!f) die(file);
	char line[512];
	if (!fgets(line, sizeof line, f)) die("header");
	printf("%s header %zu bytes\n", file, strlen(line));
	while (fgets(line, sizeof line, f)) {
		char local[64], rem[64];
		unsigned st, tx, rx, uid;
		unsigned long ino;
		int sl;
		if (sscanf(line, "%d: %63s %63s %x %x:%x %*x:%*x %*x %u %*d %lu", &sl, local, rem, &st, &tx, &rx, &uid, &ino) != 8)
			die(line);
		for (int i = 0; i < nsocks; i++) {
			if (socks[i].ino != ino) continue;
			char *lp = strrchr(local, ':'), *rp = strrchr(rem, ':');
			*lp++ = 0;
			*rp++ = 0;
			char lport[32];
			snprintf(lport, sizeof lport, "%s", portName(strtol(lp, NULL, 16)));
			snprintf(socks[i].line, sizeof socks[i].line, "%s %s: local %s:%s remote %s:%s st %02X tx %u rx %u uid %u\n", file,
			         socks[i].name, local, lport, rem, portName(strtol(rp, NULL, 16)), st, tx, rx, uid);
		}
	}
	fclose(f);
	flush();
}

static void showUnix(void) {
	FILE *f = fopen("/proc/net/unix", "r");
	if (!f) die("/proc/net/unix");
	char line[512];
	if (!fgets(line, sizeof line, f)) die("header");
	printf("unix header %s", line);
	while (fgets(line, sizeof line, f)) {
		unsigned flags, type, st;
		unsigned long ino;
		char path[256] = "";
		if (sscanf(line, "%*x: %*x %*x %x %x %x %lu %255s", &flags, &type, &st, &ino, path) < 4) die(line);
		for (int i = 0; i < nsocks; i++) {
			if (socks[i].ino != ino) continue;
			const char *p = strrchr(path, '/');
			p = p ? p + 1 : path;
			if (path[0] == '@' && !strcmp(path + 1, absname)) p = "@(the abstract name)";
			snprintf(socks[i].line, sizeof socks[i].line, "unix %s: flags %08X type %04X st %02X path %s\n", socks[i].name, flags,
			         type, st, p);
		}
	}
	fclose(f);
	flush();
}

static int tcpPair(int family, const char *lname, const char *cname, const char *aname) {
	int l = socket(family, SOCK_STREAM, 0);
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
	int c = socket(family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, got) != 0) die("connect");
	int a = accept(l, NULL, NULL);
	if (a < 0) die("accept");
	add(lname, l);
	add(cname, c);
	add(aname, a);
	// Unread bytes on the accepted end.
	if (write(c, "hello", 5) != 5) die("write");
	return a;
}

int main(void) {
	int a4 = tcpPair(AF_INET, "listener4", "client4", "accepted4");
	tcpPair(AF_INET6, "listener6", "client6", "accepted6");

	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (u < 0 || bind(u, (struct sockaddr *)&ua, sizeof ua) != 0) die("udp bind");
	socklen_t ul = sizeof ua;
	if (getsockname(u, (struct sockaddr *)&ua, &ul) != 0) die("udp getsockname");
	add("udp-bound", u);
	int uc = socket(AF_INET, SOCK_DGRAM, 0);
	if (uc < 0 || connect(uc, (struct sockaddr *)&ua, sizeof ua) != 0) die("udp connect");
	add("udp-connected", uc);

	char dir[] = "/tmp/procnetXXXXXX";
	if (!mkdtemp(dir)) die("mkdtemp");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/listen.sock", dir);
	int ul2 = socket(AF_UNIX, SOCK_STREAM, 0);
	if (ul2 < 0 || bind(ul2, (struct sockaddr *)&sun, sizeof sun) != 0 || listen(ul2, 1) != 0) die("unix listen");
	add("unix-listener", ul2);
	// Its accepted end shows the listener's path; the client none.
	int uc2 = socket(AF_UNIX, SOCK_STREAM, 0);
	if (uc2 < 0 || connect(uc2, (struct sockaddr *)&sun, sizeof sun) != 0) die("unix connect");
	int ua2 = accept(ul2, NULL, NULL);
	if (ua2 < 0) die("unix accept");
	add("unix-client", uc2);
	add("unix-accepted", ua2);
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) die("socketpair");
	add("unix-pair", sp[0]);
	struct sockaddr_un abs = {.sun_family = AF_UNIX};
	snprintf(absname, sizeof absname, "procnet-%d", getpid());
	memcpy(abs.sun_path + 1, absname, strlen(absname));
	int ud = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (ud < 0 || bind(ud, (struct sockaddr *)&abs, offsetof(struct sockaddr_un, sun_path) + 1 + strlen(absname)) != 0)
		die("unix abstract bind");
	add("unix-abstract", ud);

	// Let the bytes written reach the accepted end.
	char b;
	if (recv(a4, &b, 1, MSG_PEEK) != 1) die("peek");
	usleep(100000);

	showInet("/proc/net/tcp");
	showInet("/proc/net/tcp6");
	showInet("/proc/net/udp");
	showInet("/proc/net/udp6");
	showUnix();
	unlink(sun.sun_path);
	rmdir(dir);
	return 0;
}
