// missing.c: read-only opens of a missing file, answered ENOENT by the
// client from the kept answer of the same open
// (sentry/client/openmissing.go), and the same opens once the file is
// made by the program, by a child and by a rename. It prints what it
// finds; the test compares the output with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void try(const char *what, const char *path, int n) {
	int ok = 0, enoent = 0, other = 0;
	char buf[16] = {0};
	for (int i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ok++;
			if (read(fd, buf, sizeof buf - 1) < 0) other++;
			close(fd);
		} else if (errno == ENOENT) {
			enoent++;
		} else {
			other++;
		}
	}
	printf("%s: %d opened (%s), %d ENOENT, %d other\n", what, ok, ok ? buf : "-", enoent, other);
}

static void make(const char *path, const char *text) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) < 0) perror(path);
	close(fd);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	mkdir("d", 0755);
	try("missing", "d/f", 200);
	try("missing dir", "nodir/f", 200);
	make("d/f", "mine");
	try("made here", "d/f", 3);
	unlink("d/f");
	try("removed", "d/f", 50);
	pid_t pid = fork();
	if (pid == 0) {
		make("d/f", "child");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	try("made by a child", "d/f", 3);
	unlink("d/f");
	try("removed again", "d/f", 50);
	make("d/g", "renamed");
	rename("d/g", "d/f");
	try("renamed over", "d/f", 3);
	unlink("d/f");
	try("missing at the end", "d/f", 50);
	mkdir("nodir", 0755);
	make("nodir/f", "dir made");
	try("dir made", "nodir/f", 3);
	return 0;
}
