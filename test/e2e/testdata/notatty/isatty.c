// isatty: asks each kind of file whether it is a terminal, as programs
// do of what they open (Python of each module; ls and pagers of their
// output; gcc and its tools of their stdio), and prints what each ioctl
// said.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <stdlib.h>
#include <unistd.h>

static void ask(const char *what, int fd) {
	struct termios tio;
	struct winsize ws;
	pid_t pgrp;
	int r1 = ioctl(fd, TCGETS, &tio);
	int e1 = r1 < 0 ? errno : 0;
	int r2 = ioctl(fd, TIOCGWINSZ, &ws);
	int e2 = r2 < 0 ? errno : 0;
	int r3 = ioctl(fd, TIOCGPGRP, &pgrp);
	int e3 = r3 < 0 ? errno : 0;
	printf("%s: TCGETS %d %s, TIOCGWINSZ %d %s, TIOCGPGRP %d %s, isatty %d\n", what,
	       r1, strerror(e1), r2, strerror(e2), r3, strerror(e3), isatty(fd));
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: isatty ROUNDS\n");
		return 2;
	}
	int rounds = atoi(argv[1]);
	int fd = open("notatty.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	ask("created file", fd);
	close(fd);
	for (int i = 0; i < rounds; i++) {
		fd = open("notatty.txt", O_RDONLY);
		if (fd < 0) {
			perror("open");
			return 1;
		}
		if (i == 0)
			ask("opened file", fd);
		else if (isatty(fd))
			printf("round %d: a terminal\n", i);
		close(fd);
	}
	fd = open(".", O_RDONLY | O_DIRECTORY);
	ask("directory", fd);
	close(fd);
	int p[2];
	if (pipe(p) < 0) {
		perror("pipe");
		return 1;
	}
	ask("pipe", p[0]);
	fd = open("/dev/null", O_RDWR);
	ask("/dev/null", fd);
	ask("stdin", 0);
	ask("stdout", 1);
	ask("stderr", 2);
	return 0;
}
