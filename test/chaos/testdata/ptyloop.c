// Numbered requests through a pseudo-terminal made in the sandbox: the
// parent sets the slave raw, and before each request sets the window
// size to a number the request carries; a child that made the slave its
// controlling terminal answers each request with its payload in upper
// case and the window size it reads. A server failure rebuilds the
// terminal (modes, size, session, queued bytes), but a read or write in
// flight may be made twice or lose its bytes (docs/COMPATIBILITY.md), so
// the parent sends a request again when no answer comes within 300 ms,
// and both sides skip what does not parse or repeats; the output does
// not show how often that happened (stderr does). Every 25 rounds the
// parent also opens and closes a second pair.
//
// usage: ptyloop ROUNDS
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void payload(int seq, char *out, size_t cap, int upper) {
	snprintf(out, cap, "%s%d", upper ? "PAYLOAD-" : "payload-", seq * 7919 % 10007);
}

// nextline returns the next '\n'-terminated line of the stream fd into
// line (without the newline), reading into buf/len as needed; 0 when
// none came within ms milliseconds, -1 at end of file or an error.
static int nextline(int fd, char *buf, size_t *len, size_t cap, char *line, int ms) {
	for (;;) {
		char *nl = memchr(buf, '\n', *len);
		if (nl) {
			size_t n = nl - buf;
			memcpy(line, buf, n);
			line[n] = 0;
			memmove(buf, nl + 1, *len - n - 1);
			*len -= n + 1;
			return 1;
		}
		if (*len == cap) *len = 0; // garbage without a newline
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, ms);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return r;
		ssize_t n = read(fd, buf + *len, cap - *len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
		if (n <= 0) return -1;
		*len += n;
	}
}

static void child(int slave) {
	setsid();
	if (ioctl(slave, TIOCSCTTY, 0) < 0) _exit(10);
	signal(SIGWINCH, SIG_IGN);
	char buf[4096], line[4096];
	size_t len = 0;
	for (;;) {
		int r = nextline(slave, buf, &len, sizeof buf, line, -1);
		if (r < 0) _exit(11);
		if (strcmp(line, "quit") == 0) _exit(0);
		int seq, rows;
		char p[64], want[64];
		if (sscanf(line, "R%d %d %63s", &seq, &rows, p) != 3) continue;
		payload(seq, want, sizeof want, 0);
		if (strcmp(p, want) != 0) continue;
		struct winsize ws;
		ioctl(slave, TIOCGWINSZ, &ws);
		char ans[128];
		payload(seq, want, sizeof want, 1);
		int n = snprintf(ans, sizeof ans, "A%d %d %d %s\n", seq, ws.ws_row, rows, want);
		write(slave, ans, n);
	}
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	int rounds = argc > 1 ? atoi(argv[1]) : 1000;
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		printf("openpt: errno %d\n", errno);
		return 1;
	}
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	struct termios tio;
	if (slave < 0 || tcgetattr(slave, &tio) < 0) {
		printf("slave: errno %d\n", errno);
		return 1;
	}
	cfmakeraw(&tio);
	tcsetattr(slave, TCSANOW, &tio);
	pid_t pid = fork();
	if (pid == 0) child(slave);
	char buf[4096], line[4096];
	size_t len = 0;
	int resends = 0;
	for (int i = 0; i < rounds; i++) {
		struct winsize ws = {.ws_row = 10 + i % 50, .ws_col = 80};
		if (ioctl(master, TIOCSWINSZ, &ws) < 0) {
			printf("round %d: TIOCSWINSZ errno %d\n", i, errno);
			return 1;
		}
		char p[64], msg[128], want[128];
		payload(i, p, sizeof p, 0);
		int n = snprintf(msg, sizeof msg, "R%d %d %s\n", i, ws.ws_row, p);
		payload(i, p, sizeof p, 1);
		snprintf(want, sizeof want, "A%d %d %d %s", i, ws.ws_row, ws.ws_row, p);
		for (int try = 0;; try++) {
			if (try == 200) {
				printf("round %d: no answer\n", i);
				return 1;
			}
			if (try > 0) resends++;
			if (write(master, msg, n) != n) {
				printf("round %d: write errno %d\n", i, errno);
				return 1;
			}
			int r;
			while ((r = nextline(master, buf, &len, sizeof buf, line, 300)) > 0 && strcmp(line, want) != 0) {
			}
			if (r < 0) {
				printf("round %d: master read failed: errno %d\n", i, errno);
				return 1;
			}
			if (r > 0) break;
		}
		if (i % 100 == 0) printf("round %d: %s\n", i, want);
		if (i % 25 == 0) {
			int m2 = posix_openpt(O_RDWR | O_NOCTTY);
			if (m2 < 0 || unlockpt(m2) < 0) {
				printf("round %d: second pair: errno %d\n", i, errno);
				return 1;
			}
			int s2 = open(ptsname(m2), O_RDWR | O_NOCTTY);
			if (s2 < 0 || !isatty(s2)) {
				printf("round %d: second slave: errno %d\n", i, errno);
				return 1;
			}
			close(s2);
			close(m2);
		}
	}
	tcgetattr(slave, &tio);
	printf("%d rounds; slave still raw: %d\n", rounds, !(tio.c_lflag & (ICANON | ECHO)));
	fprintf(stderr, "ptyloop resends: %d\n", resends);
	// The quit may be lost with the queue too: sent again until the
	// child is gone.
	int st;
	do {
		write(master, "quit\n", 5);
		usleep(300000);
	} while (waitpid(pid, &st, WNOHANG) == 0);
	printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}
