// execmissing.c: execve of names missing from a directory, as make's and
// gcc's execvp try each PATH directory, after a stat found one name
// missing there (its answer brings the directory's names:
// PathLease.missing_in; sentry/client/openmissing.go answers the execs
// ENOENT); one with an unreadable argv too, as on Linux since 6.8 (the
// file is looked up before argv is read); once a file is made under one of the names, its exec finds it (EACCES:
// no execute bit), and after another stat brings the names again, the
// others fail ENOENT on the client again. It prints what it finds; the test compares the
// output with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static void run(const char *what, int n) {
	char *argv[] = {"x", NULL};
	int enoent = 0, other = 0;
	for (int i = 0; i < n; i++) {
		char p[64];
		snprintf(p, sizeof p, "bin/p%d", i);
		execve(p, argv, environ);
		if (errno == ENOENT)
			enoent++;
		else
			other++;
	}
	printf("%s: %d ENOENT, %d other\n", what, enoent, other);
}

// accesses runs access(F_OK) of n names missing from bin: the first
// waits and brings bin's names for the access calls (they walk with the
// real ids), which answer the others.
static void accesses(int n) {
	int enoent = 0, other = 0;
	for (int i = 0; i < n; i++) {
		char p[64];
		snprintf(p, sizeof p, "bin/a%d", i);
		if (access(p, F_OK) < 0 && errno == ENOENT)
			enoent++;
		else
			other++;
	}
	printf("access: %d ENOENT, %d other\n", enoent, other);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct stat st;
	if (mkdir("bin", 0755) != 0 || close(open("bin/real", O_WRONLY | O_CREAT, 0644)) != 0) {
		perror("setup");
		return 1;
	}
	printf("stat: %d\n", stat("bin/nosuch", &st) < 0 ? errno : 0);
	run("missing", 100);
	execve("bin/p1", (char **)8, environ);
	printf("bad argv: %d\n", errno);
	execve("bin/real", (char *[]){"x", NULL}, environ);
	printf("a file: %d\n", errno);
	close(open("bin/p7", O_WRONLY | O_CREAT, 0644));
	execve("bin/p7", (char *[]){"x", NULL}, environ);
	printf("made: %d\n", errno);
	printf("stat again: %d\n", stat("bin/nosuch", &st) < 0 ? errno : 0);
	run("after", 100);
	accesses(100);
	return 0;
}
