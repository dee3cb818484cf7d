// A pseudo-terminal pair from /dev/ptmx: the calls script(1) and
// terminal emulators make, and what the line discipline does between
// the two ends. Every result is printed; the output is compared with a
// native run.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void show(const char *what, const char *buf, ssize_t n) {
	printf("%s %zd: \"", what, n);
	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = buf[i];
		if (c == '\r') printf("\\r");
		else if (c == '\n') printf("\\n");
		else if (c == '\b') printf("\\b");
		else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
		else putchar(c);
	}
	printf("\"\n");
}

// readsome reads what fd has within 200 ms, then what follows within
// 50 ms more: Linux's line discipline may hand a write's output to the
// master in pieces (ONLCR's "\r\n" after the text), so one read can see
// part of it; the pieces together are what the test compares.
static void readsome(const char *what, int fd) {
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = poll(&p, 1, 200);
	if (r <= 0) {
		printf("%s: nothing\n", what);
		return;
	}
	char buf[512];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n < 0) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	while (n > 0 && (size_t)n < sizeof buf && poll(&p, 1, 50) > 0 && (p.revents & POLLIN)) {
		ssize_t more = read(fd, buf + n, sizeof buf - n);
		if (more <= 0) break;
		n += more;
	}
	show(what, buf, n);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0) {
		perror("posix_openpt");
		return 1;
	}
	printf("grantpt: %d\n", grantpt(m));
	int n = -1;
	ioctl(m, TIOCGPTN, &n);
	char want[64];
	snprintf(want, sizeof want, "/dev/pts/%d", n);
	char *name = ptsname(m);
	printf("ptsname is /dev/pts/<TIOCGPTN>: %d\n", name && strcmp(name, want) == 0);
	int s = open(want, O_RDWR | O_NOCTTY);
	printf("open of a locked slave: %s\n", s < 0 ? strerror(errno) : "opened");
	printf("unlockpt: %d\n", unlockpt(m));
	s = open(want, O_RDWR | O_NOCTTY);
	if (s < 0) {
		perror("open slave");
		return 1;
	}
	struct stat st;
	fstat(s, &st);
	printf("slave: chr %d major %d minor is n %d\n", S_ISCHR(st.st_mode), major(st.st_rdev), (int)minor(st.st_rdev) == n);
	fstat(m, &st);
	printf("master: chr %d rdev %d:%d\n", S_ISCHR(st.st_mode), major(st.st_rdev), minor(st.st_rdev));
	printf("isatty: master %d slave %d\n", isatty(m), isatty(s));
	DIR *d = opendir("/dev/pts");
	int listed = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (strcmp(e->d_name, want + 9) == 0) listed = 1;
	}
	printf("/dev/pts lists it: %d\n", listed);
	if (d) closedir(d);

	// Cooked mode: editing, echo, ICRNL, ONLCR.
	const char typed[] = "hello wrld\x7f\x7f\x7f\x7forld\r";
	write(m, typed, sizeof typed - 1);
	readsome("slave reads", s);
	readsome("master reads echo", m);
	write(s, "out\n", 4);
	readsome("master reads output", m);
	write(m, "par", 3);
	readsome("slave reads a partial line", s);
	write(m, "\x15" "x\x04", 3);
	readsome("slave reads after kill and EOF", s);
	write(m, "\x04", 1);
	readsome("slave reads EOF", s);
	readsome("master reads echo", m);

	// Window size.
	struct winsize ws = {.ws_row = 33, .ws_col = 111};
	printf("TIOCSWINSZ: %d\n", ioctl(m, TIOCSWINSZ, &ws));
	memset(&ws, 0, sizeof ws);
	ioctl(s, TIOCGWINSZ, &ws);
	printf("slave winsize %d %d\n", ws.ws_row, ws.ws_col);

	// Raw mode.
	struct termios t;
	tcgetattr(s, &t);
	cfmakeraw(&t);
	printf("tcsetattr raw: %d\n", tcsetattr(s, TCSANOW, &t));
	write(m, "a\rb\x03", 4);
	readsome("raw slave reads", s);
	readsome("raw master reads echo", m);
	write(s, "x\ny", 3);
	readsome("raw master reads output", m);

	// TIOCGPTPEER opens the slave without its path.
	int peer = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	printf("TIOCGPTPEER: %s\n", peer < 0 ? strerror(errno) : "fd");
	write(peer, "peer", 4);
	readsome("master reads from peer", m);
	close(peer);

	// ISIG: ^C typed on the master kills the foreground group of the
	// session whose controlling terminal the slave is.
	tcgetattr(s, &t);
	t.c_lflag |= ISIG | ICANON | ECHO;
	tcsetattr(s, TCSANOW, &t);
	int ready[2];
	pipe(ready);
	pid_t child = fork();
	if (child == 0) {
		setsid();
		int fd = open(want, O_RDWR);
		if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0) _exit(2);
		pid_t fg = tcgetpgrp(fd);
		write(ready[1], fg == getpid() ? "y" : "n", 1);
		for (;;) pause();
	}
	char r;
	read(ready[0], &r, 1);
	printf("child's foreground group is its own: %c\n", r);
	write(m, "\x03", 1);
	int status;
	waitpid(child, &status, 0);
	printf("child: signaled %d by SIGINT %d\n", WIFSIGNALED(status), WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
	readsome("master reads echo of ^C", m);

	// Hangup: the last slave closes, the master reads EIO.
	close(s);
	char buf[16];
	ssize_t got = read(m, buf, sizeof buf);
	printf("master read after the slave closed: %zd %s\n", got, got < 0 ? strerror(errno) : "");
	return 0;
}
