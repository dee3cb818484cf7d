// A pseudo-terminal pair that outlives a server failure: the parent
// opens /dev/ptmx, sets the slave raw and a window size, and a child
// that made the slave its controlling terminal (setsid, TIOCSCTTY)
// answers what the parent types. The parent creates "phase1" with
// output for the master queued in the terminal and the child blocked
// reading it, and waits for a file "go" (the test kills the server in
// between); then the same terminal, with its modes, size, session,
// foreground group and queued output, goes on: exchanges, a resize that
// sends SIGWINCH to the child, and the hang-up when the last slave
// closes. Only the parent prints.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t winches;
static void onwinch(int sig) { (void)sig; winches++; }

// child answers each byte string it reads: "q" ends it, "?" asks for its
// view of the terminal, anything else comes back in upper case.
static void child(int slave) {
	setsid();
	if (ioctl(slave, TIOCSCTTY, 0) < 0) _exit(10);
	struct sigaction sa = {.sa_handler = onwinch};
	sigaction(SIGWINCH, &sa, NULL);
	char buf[256];
	for (;;) {
		ssize_t n = read(slave, buf, sizeof buf - 1);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) _exit(11);
		buf[n] = 0;
		if (strcmp(buf, "q") == 0) _exit(0);
		if (strcmp(buf, "?") == 0) {
			char ans[128];
			pid_t fg = tcgetpgrp(slave), sid = tcgetsid(slave);
			int len = snprintf(ans, sizeof ans, "sid=%s fg=%s winch=%d\r", sid == getpid() ? "me" : "other",
			                   fg == getpgrp() ? "me" : "other", (int)winches);
			write(slave, ans, len);
			continue;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
		write(slave, buf, n);
	}
}

// ask types s on the master and prints the child's answer (up to '\r').
static void ask(int master, const char *s) {
	if (write(master, s, strlen(s)) != (ssize_t)strlen(s)) {
		printf("write %s: errno %d\n", s, errno);
		exit(1);
	}
	char buf[256];
	size_t got = 0;
	while (got < sizeof buf - 1 && (got == 0 || buf[got - 1] != '\r')) {
		ssize_t n = read(master, buf + got, sizeof buf - 1 - got);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) {
			printf("read answer to %s: %zd errno %d\n", s, n, errno);
			exit(1);
		}
		got += n;
	}
	buf[got - 1] = 0;
	printf("%s -> %s\n", s, buf);
}

static void show(const char *when, int master, int slave, const char *name0) {
	struct termios tio;
	struct winsize ws;
	struct stat st;
	if (tcgetattr(slave, &tio) < 0 || ioctl(master, TIOCGWINSZ, &ws) < 0 || fstat(slave, &st) < 0) {
		printf("%s: errno %d\n", when, errno);
		exit(1);
	}
	printf("%s: icanon %d echo %d opost %d icrnl %d; %dx%d; slave chr %d tty %d; same name %d\n", when,
	       !!(tio.c_lflag & ICANON), !!(tio.c_lflag & ECHO), !!(tio.c_oflag & OPOST), !!(tio.c_iflag & ICRNL),
	       ws.ws_row, ws.ws_col, S_ISCHR(st.st_mode), isatty(slave), strcmp(ptsname(master), name0) == 0);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		printf("openpt: errno %d\n", errno);
		return 1;
	}
	char name[64];
	snprintf(name, sizeof name, "%s", ptsname(master));
	int slave = open(name, O_RDWR | O_NOCTTY);
	if (slave < 0) {
		printf("open slave: errno %d\n", errno);
		return 1;
	}
	struct termios tio;
	tcgetattr(slave, &tio);
	cfmakeraw(&tio);
	tcsetattr(slave, TCSANOW, &tio);
	struct winsize ws = {.ws_row = 40, .ws_col = 132};
	ioctl(master, TIOCSWINSZ, &ws);

	pid_t pid = fork();
	if (pid == 0) child(slave);
	show("before", master, slave, name);
	ask(master, "hello\r");
	ask(master, "?");

	// Output queued for the master across the failure.
	write(slave, "pending\n", 8);
	close(open("phase1", O_CREAT | O_WRONLY, 0644));
	while (access("go", F_OK) != 0) usleep(10000);
	char pending[16] = {0};
	ssize_t np = read(master, pending, sizeof pending - 1);
	printf("queued before: %zd %s", np, pending);

	show("after", master, slave, name);
	ask(master, "world\r");
	ws.ws_row = 50;
	ioctl(master, TIOCSWINSZ, &ws);
	ask(master, "?");
	show("resized", master, slave, name);
	write(master, "q", 1);
	int st;
	waitpid(pid, &st, 0);
	printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	close(slave);
	char c;
	ssize_t n = read(master, &c, 1);
	printf("master read after the last slave closed: %zd errno %s\n", n, n < 0 && errno == EIO ? "EIO" : "other");
	return 0;
}
