// netstats: what ss -s, netstat -s (net-tools) and nstat -asz (iproute2)
// print from /proc/net/sockstat, sockstat6, snmp, snmp6 and netstat. The
// program makes TCP connections on 127.0.0.1 and ::1 (a listener, a
// client and its accepted end each), a bound UDP socket and one
// connected to a closed port (its datagram draws an ICMP port
// unreachable, so both machines have IcmpMsg counts), then prints each
// tool's shape, values left out (they are the machine's): ss -s with
// every number as N, netstat -s's section headers, nstat's counter
// names in order (but the per-type ICMP ones); then each tool's stderr
// and exit status.
//
// With the argument "values" it prints instead the sandbox's own counts,
// which only its sockets make: sockstat and sockstat6 as they are and a
// few snmp counters.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

static socklen_t loopback(int family, struct sockaddr_storage *ss, int port) {
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
		return sizeof *a;
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	a->sin6_family = AF_INET6;
	a->sin6_addr = in6addr_loopback;
	a->sin6_port = htons(port);
	return sizeof *a;
}

static void tcpPair(int family) {
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, &ss, 0);
	int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) != 0 || listen(l, 4) != 0) die("listen");
	if (getsockname(l, (struct sockaddr *)&ss, &len) != 0) die("getsockname");
	int c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len) != 0) die("connect");
	if (accept4(l, NULL, NULL, SOCK_CLOEXEC) < 0) die("accept");
}

// closedPort sends a datagram to a UDP port nobody holds and reports
// the refusal the ICMP port unreachable brings.
static void closedPort(void) {
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&ss, len) != 0 || getsockname(s, (struct sockaddr *)&ss, &len) != 0)
		die("udp bind");
	close(s);
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u < 0 || connect(u, (struct sockaddr *)&ss, len) != 0) die("udp connect");
	if (send(u, "x", 1, 0) != 1) die("udp send");
	char b;
	for (int i = 0; i < 100; i++) {
		if (recv(u, &b, 1, MSG_DONTWAIT) < 0 && errno == ECONNREFUSED) {
			printf("udp to a closed port: refused\n");
			return;
		}
		usleep(10000);
	}
	printf("udp to a closed port: not refused\n");
}

// run runs argv with its stdout in a pipe; line rewrites each line (0:
// drop it).
static void run(char *const argv[], int (*line)(char *)) {
	int out[2], err[2];
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) die("pipe");
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	printf("== %s %s\n", argv[0], argv[1] ? argv[1] : "");
	FILE *f = fdopen(out[0], "r");
	char l[4096];
	while (fgets(l, sizeof l, f))
		if (line(l)) fputs(l, stdout);
	fclose(f);
	f = fdopen(err[0], "r");
	while (fgets(l, sizeof l, f)) printf("stderr: %s", l);
	fclose(f);
	int status;
	if (waitpid(pid, &status, 0) != pid) die("waitpid");
	printf("exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

// numbers replaces each number with N and each run of blanks with one
// space.
static int numbers(char *l) {
	char *w = l;
	for (char *r = l; *r;) {
		if (isdigit((unsigned char)*r)) {
			while (isdigit((unsigned char)*r)) r++;
			*w++ = 'N'; // after the skip: w may be where r was
		} else if (*r == ' ' || *r == '\t') {
			if (w > l && w[-1] != ' ') *w++ = ' ';
			while (*r == ' ' || *r == '\t') r++;
		} else {
			*w++ = *r++;
		}
	}
	*w = 0;
	// A blank before the newline is padding.
	if (w - l >= 2 && w[-1] == '\n' && w[-2] == ' ') {
		w[-2] = '\n';
		w[-1] = 0;
	}
	return 1;
}

// headers keeps netstat -s's section headers (the lines not indented).
static int headers(char *l) { return l[0] != ' ' && l[0] != '\n'; }

// names keeps an nstat line's counter name, but not those Linux lists
// only for the ICMP types that have a count (IcmpMsgInType3,
// Icmp6OutType133: the machine's traffic decides them).
static int names(char *l) {
	if (l[0] == '#' || !strncmp(l, "IcmpMsg", 7)) return 0;
	if ((!strncmp(l, "Icmp6InType", 11) && isdigit((unsigned char)l[11])) ||
	    (!strncmp(l, "Icmp6OutType", 12) && isdigit((unsigned char)l[12])))
		return 0;
	l[strcspn(l, " \t")] = 0;
	strcat(l, "\n");
	return 1;
}

static void cat(const char *path) {
	FILE *f = fopen(path, "r");
	if (!f) die(path);
	char l[4096];
	while (fgets(l, sizeof l, f)) fputs(l, stdout);
	fclose(f);
}

// snmp prints the values of group's names in /proc/net/snmp.
static void snmp(const char *group, const char *const *want) {
	FILE *f = fopen("/proc/net/snmp", "r");
	if (!f) die("/proc/net/snmp");
	char n[4096], v[4096];
	size_t gl = strlen(group);
	while (fgets(n, sizeof n, f) && fgets(v, sizeof v, f)) {
		if (strncmp(n, group, gl) || n[gl] != ':') continue;
		char *ns, *vs;
		char *nt = strtok_r(n, " \n", &ns), *vt = strtok_r(v, " \n", &vs);
		while ((nt = strtok_r(NULL, " \n", &ns)) && (vt = strtok_r(NULL, " \n", &vs)))
			for (const char *const *w = want; *w; w++)
				if (!strcmp(nt, *w)) printf("%s %s %s\n", group, nt, vt);
	}
	fclose(f);
}

// closings leaves a connection in TIME-WAIT (its client closed first,
// then its accepted end) and one whose accepted end closed alone: an
// orphan in FIN-WAIT-2, its client held in CLOSE-WAIT.
static void closings(void) {
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) != 0 || listen(l, 4) != 0) die("listen");
	if (getsockname(l, (struct sockaddr *)&ss, &len) != 0) die("getsockname");
	int c[2], a[2];
	for (int i = 0; i < 2; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c[i] < 0 || connect(c[i], (struct sockaddr *)&ss, len) != 0) die("connect");
		if ((a[i] = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) die("accept");
	}
	close(l);
	close(c[0]);
	// The client's FIN in, so that the accepted end closes second.
	char eof;
	if (read(a[0], &eof, 1) != 0) die("read the client's FIN");
	close(a[0]);
	close(a[1]);
	// The closes' segments cross the loopback in the stack's own time:
	// wait (5 s at most) for the two timewait sockets.
	char b[4096];
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen("/proc/net/sockstat", "r");
		if (!f) die("/proc/net/sockstat");
		size_t n = fread(b, 1, sizeof b - 1, f);
		fclose(f);
		b[n] = 0;
		if (strstr(b, " tw 2 ")) break;
		usleep(10000);
	}
	printf("after the closes:\n");
}

int main(int argc, char **argv) {
	tcpPair(AF_INET);
	tcpPair(AF_INET6);
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss, 0);
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u < 0 || bind(u, (struct sockaddr *)&ss, len) != 0) die("udp bind");
	closedPort();
	if (argc > 1 && !strcmp(argv[1], "values")) {
		cat("/proc/net/sockstat");
		cat("/proc/net/sockstat6");
		snmp("Tcp", (const char *const[]){"ActiveOpens", "PassiveOpens", "CurrEstab", "MaxConn", NULL});
		snmp("Udp", (const char *const[]){"OutDatagrams", "NoPorts", NULL});
		snmp("IcmpMsg", (const char *const[]){"InType3", "OutType3", NULL});
		snmp("Icmp", (const char *const[]){"InDestUnreachs", "OutDestUnreachs", NULL});
		snmp("Ip", (const char *const[]){"Forwarding", "DefaultTTL", NULL});
		closings();
		cat("/proc/net/sockstat");
		return 0;
	}
	run((char *const[]){"/usr/bin/ss", "-s", NULL}, numbers);
	run((char *const[]){"/usr/bin/netstat", "-s", NULL}, headers);
	// -s: no history file written; -a: absolute values; -z: zeros too.
	run((char *const[]){"/usr/bin/nstat", "-asz", NULL}, names);
	return 0;
}
