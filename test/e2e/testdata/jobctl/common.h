// Helpers of the job-control programs (inlined by the e2e test).
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void msleep(int ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

// procState returns the state letter of /proc/PID/stat.
static char procState(pid_t pid) {
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f) return '?';
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

// statusState returns the State: line of /proc/PID/status.
static void statusState(pid_t pid, char *out, size_t len) {
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	snprintf(out, len, "?");
	FILE *f = fopen(path, "r");
	if (!f) return;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "State:", 6) == 0) {
			char *s = line + 6;
			while (*s == ' ' || *s == '\t') s++;
			s[strcspn(s, "\n")] = 0;
			snprintf(out, len, "%s", s);
		}
	}
	fclose(f);
}

static void describe(const char *what, int st) {
	if (WIFSTOPPED(st))
		printf("%s: stopped by %d\n", what, WSTOPSIG(st));
	else if (WIFCONTINUED(st))
		printf("%s: continued\n", what);
	else if (WIFSIGNALED(st))
		printf("%s: killed by %d\n", what, WTERMSIG(st));
	else if (WIFEXITED(st))
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
}
