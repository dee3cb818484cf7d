// Reads /proc/net/dev before and after known transfers and says whether
// each interface's counters moved by at least what was sent: SIZE bytes
// each way over a loopback TCP connection (lo counts them sent and
// received), and, when IFACE is not "-", SIZE bytes to a server at
// HOST:PORT over IFACE that answers "hello " and what it read. Exact
// counts differ between kernels (headers, segment sizes): only the
// lower bounds are printed.
//
// usage: netdev IFACE HOST PORT SIZE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct dev {
	char name[32];
	unsigned long long c[16];
};

// readdev fills devs from /proc/net/dev and returns how many there are.
static int readdev(struct dev *devs, int max) {
	FILE *f = fopen("/proc/net/dev", "r");
	if (!f) {
		printf("open /proc/net/dev: errno %d\n", errno);
		exit(1);
	}
	char line[512];
	int n = 0;
	for (int ln = 0; fgets(line, sizeof line, f); ln++) {
		if (ln < 2) continue; // the two header lines
		char *colon = strchr(line, ':');
		if (!colon || n == max) continue;
		*colon = 0;
		char *name = line;
		while (*name == ' ') name++;
		snprintf(devs[n].name, sizeof devs[n].name, "%s", name);
		char *p = colon + 1;
		int k;
		for (k = 0; k < 16; k++) {
			char *end;
			devs[n].c[k] = strtoull(p, &end, 10);
			if (end == p) break;
			p = end;
		}
		if (k != 16) {
			printf("%s: %d columns\n", devs[n].name, k);
			exit(1);
		}
		n++;
	}
	fclose(f);
	return n;
}

static struct dev *find(struct dev *devs, int n, const char *name) {
	for (int i = 0; i < n; i++)
		if (strcmp(devs[i].name, name) == 0) return &devs[i];
	printf("no %s in /proc/net/dev\n", name);
	exit(1);
}

static void writeall(int s, long size) {
	static char buf[65536];
	memset(buf, 'x', sizeof buf);
	while (size > 0) {
		ssize_t w = write(s, buf, size < (long)sizeof buf ? size : (long)sizeof buf);
		if (w <= 0) {
			printf("write: errno %d\n", errno);
			exit(1);
		}
		size -= w;
	}
}

static long readall(int s) {
	static char buf[65536];
	long total = 0;
	ssize_t r;
	while ((r = read(s, buf, sizeof buf)) > 0) total += r;
	return r < 0 ? -1 : total;
}

// loopback sends size bytes from a child to this process over 127.0.0.1.
static void loopback(long size) {
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &al)) {
		printf("listen: errno %d\n", errno);
		exit(1);
	}
	pid_t pid = fork();
	if (pid == 0) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&a, sizeof a)) _exit(1);
		writeall(s, size);
		_exit(0);
	}
	int c = accept(l, NULL, NULL);
	long got = readall(c);
	int st;
	waitpid(pid, &st, 0);
	printf("lo transfer: %ld bytes\n", got);
	close(c);
	close(l);
}

// outside sends size bytes to host:port and reads the answer.
static void outside(const char *host, int port, long size) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, host, &a.sin_addr);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *)&a, sizeof a)) {
		printf("connect: errno %d\n", errno);
		exit(1);
	}
	writeall(s, size);
	shutdown(s, SHUT_WR);
	printf("outside transfer: %ld bytes sent, %ld answered\n", size, readall(s));
	close(s);
}

static void report(const char *name, struct dev *b, struct dev *a, long size) {
	// Packets: at most 64 KiB each (segmentation offload), so at least
	// size/65536 of them.
	long pk = size / 65536;
	printf("%s: rx bytes +>=%ld %s, rx packets +>=%ld %s, tx bytes +>=%ld %s, tx packets +>=%ld %s\n", name,
	       size, a->c[0] - b->c[0] >= (unsigned long long)size ? "yes" : "no",
	       pk, a->c[1] - b->c[1] >= (unsigned long long)pk ? "yes" : "no",
	       size, a->c[8] - b->c[8] >= (unsigned long long)size ? "yes" : "no",
	       pk, a->c[9] - b->c[9] >= (unsigned long long)pk ? "yes" : "no");
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: netdev IFACE HOST PORT SIZE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *iface = argv[1];
	long size = atol(argv[4]);
	struct dev before[64], after[64];
	int nb = readdev(before, 64);
	loopback(size);
	if (strcmp(iface, "-") != 0) outside(argv[2], atoi(argv[3]), size);
	int na = readdev(after, 64);
	report("lo", find(before, nb, "lo"), find(after, na, "lo"), size);
	if (strcmp(iface, "-") != 0) report(iface, find(before, nb, iface), find(after, na, iface), size);
	return 0;
}
