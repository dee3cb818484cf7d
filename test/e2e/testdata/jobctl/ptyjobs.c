// Job control on a pty made inside the sandbox: a session leader takes
// the slave as its controlling terminal; a child in a background group
// that reads it is stopped by SIGTTIN (EIO if it ignores SIGTTIN), and
// one that writes to it after TOSTOP is set is stopped by SIGTTOU (it
// writes if it ignores SIGTTOU).
#include "common.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>

static void background(int slave, int doRead, int ignore) {
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		if (ignore) signal(doRead ? SIGTTIN : SIGTTOU, SIG_IGN);
		char c = 'x';
		ssize_t r = doRead ? read(slave, &c, 1) : write(slave, &c, 1);
		printf("  %s returned %zd (%s)\n", doRead ? "read" : "write", r, r < 0 ? strerror(errno) : "ok");
		_exit(0);
	}
	setpgid(pid, pid);
	int st;
	waitpid(pid, &st, WUNTRACED);
	describe(doRead ? (ignore ? "background read, SIGTTIN ignored" : "background read") : (ignore ? "background write, SIGTTOU ignored" : "background write"), st);
	if (WIFSTOPPED(st)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		printf("no pty: %s\n", strerror(errno));
		return 1;
	}
	char name[64];
	ptsname_r(master, name, sizeof name);
	pid_t leader = fork();
	if (leader == 0) {
		setsid();
		int slave = open(name, O_RDWR);
		if (ioctl(slave, TIOCSCTTY, 0) < 0) printf("TIOCSCTTY: %s\n", strerror(errno));
		background(slave, 1, 0);
		background(slave, 1, 1);
		background(slave, 0, 0);
		struct termios tio;
		tcgetattr(slave, &tio);
		tio.c_lflag |= TOSTOP;
		tcsetattr(slave, TCSANOW, &tio);
		background(slave, 0, 0);
		background(slave, 0, 1);
		// In the foreground, a read is a read.
		write(master, "y\n", 2);
		char buf[8] = {0};
		ssize_t r = read(slave, buf, sizeof buf - 1);
		printf("foreground read %zd\n", r);
		_exit(0);
	}
	int st;
	waitpid(leader, &st, 0);
	describe("leader", st);
	return 0;
}
