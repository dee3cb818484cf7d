// /proc/sys/kernel/ns_last_pid in the sandbox only (a native write would
// move the host's pids): reading gives the last pid handed out, writing
// N makes the next fork get N+1 if free, the bounds of a write, and the
// writer's CAP_SYS_ADMIN checked at the write (the file is 0666). The
// expected output is Linux's (kernel/pid_namespace.c, kernel/pid.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LAST "/proc/sys/kernel/ns_last_pid"

#include "common.h"

static int writes(const char *s) { return writestr(LAST, s); }

static void w(const char *s) { writeshow(LAST, s); }

// child forks a child that exits at once, reaps it and returns its pid.
static pid_t child(void) {
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

int main(void) {
	struct stat st;
	stat(LAST, &st);
	printf("mode = %o\n", st.st_mode & 07777);
	long pidmax = readnum("/proc/sys/kernel/pid_max");
	long last = readnum(LAST);
	pid_t a = child();
	printf("fork gets last+1 = %s\n", a == last + 1 ? "yes" : "no");
	printf("read after fork is its pid = %s\n", readnum(LAST) == a ? "yes" : "no");
	char s[32];
	snprintf(s, sizeof s, "%d", a - 1);
	printf("write pid-1 = %d\n", writes(s));
	printf("same pid again = %s\n", child() == a ? "yes" : "no");
	w("1000");
	show("read", readnum(LAST));
	show("fork", child());
	// An id in use is skipped.
	snprintf(s, sizeof s, "%d", getpid() - 1);
	writes(s);
	printf("fork skips a live pid = %s\n", child() == getpid() + 1 ? "yes" : "no");
	w("-1");
	w("junk");
	snprintf(s, sizeof s, "%ld", pidmax + 1);
	printf("write pid_max+1 = %d %s\n", writes(s), strerrorname_np(errno));
	snprintf(s, sizeof s, "%ld", pidmax);
	printf("write pid_max = %d\n", writes(s));
	// Past pid_max the ids start over at RESERVED_PIDS (300).
	show("fork after pid_max", child());
	w("0");
	show("read", readnum(LAST));
	w("5000");
	// Without CAP_SYS_ADMIN: the open succeeds (0666), the write does not.
	pid_t pid = fork();
	if (pid == 0) {
		if (setuid(65534) < 0)
			_exit(1);
		int fd = open(LAST, O_WRONLY);
		show("user open", fd < 0 ? -1 : 0);
		errno = 0;
		show("user write", write(fd, "7000", 4));
		show("user read", readnum(LAST));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	pid = fork();
	if (pid == 0) {
		// Root without CAP_SYS_ADMIN, then without CAP_CHECKPOINT_RESTORE
		// too.
		struct {
			unsigned v, pid;
		} h = {0x20080522, 0};
		struct {
			unsigned eff, perm, inh;
		} d[2];
		syscall(125 /* capget */, &h, d);
		d[0].eff &= ~(1u << 21);
		syscall(126 /* capset */, &h, d);
		show("root without CAP_SYS_ADMIN write", writes("7000"));
		d[1].eff &= ~(1u << (40 - 32));
		syscall(126 /* capset */, &h, d);
		show("root without CAP_CHECKPOINT_RESTORE write", writes("8000"));
		show("read", readnum(LAST));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	return 0;
}
