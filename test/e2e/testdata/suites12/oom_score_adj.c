// oom_score_adj: /proc/<pid>/oom_score_adj, oom_adj and oom_score
// (LTP's tst_memutils, systemd and PostgreSQL write oom_score_adj; it
// did not exist). Without CAP_SYS_RESOURCE (dropped first, as a root in
// a container may lack it): bounds and parsing of writes, raising and
// lowering down to oom_score_adj_min (EACCES below), oom_adj's scale and
// its own rule (no lowering at all), fork, execve, threads' files and a
// zombie's. oom_score is shown by range: its exact value weighs the
// resident set against the machine's memory. With "priv" (compared
// with Linux's answers, natively only where the host grants
// CAP_SYS_RESOURCE): lowering with the capability, and the minimum a
// privileged write sets, which a forked child that gave up root keeps.
// All writes are a forked child's own.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int readint(const char *path) {
	char buf[32] = "";
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -99999;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n > 0 ? atoi(buf) : -99998;
}

static void show(const char *what) {
	char path[64];
	printf("%s: oom_score_adj %d oom_adj %d", what, readint("/proc/self/oom_score_adj"), readint("/proc/self/oom_adj"));
	snprintf(path, sizeof path, "/proc/self/task/%d/oom_score_adj", getpid());
	printf(" task %d\n", readint(path));
}

// score says where oom_score is: Linux's (1000 + badness*1000/memory)*2/3
// with badness the resident pages plus oom_score_adj thousandths of the
// memory, for a small program a little above (1000+adj)*2/3.
static void score(const char *what, int adj) {
	int s = readint("/proc/self/oom_score"), lo = (1000 + adj) * 2 / 3 - 1;
	printf("%s: oom_score %s\n", what, s >= lo && s < lo + 30 ? "as its adj and a small resident set" : "OUT OF RANGE");
	if (s < lo || s >= lo + 30)
		printf("  (%d, want %d..%d)\n", s, lo, lo + 29);
}

static void put(int fd, const char *file, const char *s, size_t len) {
	ssize_t n = write(fd, s, len);
	printf("write %s %.*s: %zd %s\n", file, (int)len, s, n, n < 0 ? strerror(errno) : "");
}

static void putadj(const char *s) {
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);
	put(fd, "oom_score_adj", s, strlen(s));
	close(fd);
}

static void putlegacy(const char *s) {
	int fd = open("/proc/self/oom_adj", O_WRONLY);
	put(fd, "oom_adj", s, strlen(s));
	close(fd);
}

static int has_sys_resource(void) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	syscall(SYS_capget, &h, d);
	return (d[0].effective >> CAP_SYS_RESOURCE) & 1;
}

static void drop_sys_resource(void) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	syscall(SYS_capget, &h, d);
	d[0].effective &= ~(1u << CAP_SYS_RESOURCE);
	if (syscall(SYS_capset, &h, d))
		perror("capset");
}

static void wait_child(pid_t pid) {
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		printf("child %d: status %#x\n", pid, st);
}

// unprivileged: a root without CAP_SYS_RESOURCE, whose minimum is 0.
static void unprivileged(char *argv0) {
	show("first");
	score("first", 0);
	putadj("500");
	show("after 500");
	putadj("100");
	putadj("-1");
	putadj("0");
	show("after 100, -1 and 0");
	putadj("1001");
	putadj("-1001");
	putadj("zz");
	putadj("");
	putadj("0x");
	putadj("99999999999");
	putadj("5 6");
	show("after bad ones");
	putadj(" \t0x20 \n");
	show("after 0x20 with spaces");
	putadj("+010");
	show("after +010");
	{
		int fd = open("/proc/self/oom_score_adj", O_WRONLY);
		put(fd, "oom_score_adj", "7\0junk", 6);
		close(fd);
	}
	show("after 7 and a NUL");
	putadj("0000000000000001");
	show("after 16 bytes");
	putlegacy("3");
	show("after oom_adj 3");
	putlegacy("2");
	putlegacy("16");
	putlegacy("-18");
	putlegacy("x");
	show("after oom_adj 2, 16, -18, x");
	putlegacy("15");
	show("after oom_adj 15");
	score("at 1000", 1000);
	putadj("999");
	putadj("1000");
	pid_t pid = fork();
	if (pid == 0) {
		show("child");
		execl("/proc/self/exe", argv0, "exec", (char *)0);
		_exit(1);
	}
	wait_child(pid);
	pid = fork();
	if (pid == 0) {
		putadj("700");
		_exit(0);
	}
	usleep(200000);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/oom_score_adj", pid);
	printf("zombie: oom_score_adj %d", readint(path));
	snprintf(path, sizeof path, "/proc/%d/oom_score", pid);
	printf(" oom_score %d\n", readint(path));
	wait_child(pid);
}

// nobody: a child that gave up root after opening its file (its /proc
// files are root's then: it is no longer dumpable).
static void nobody(void) {
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);
	int lfd = open("/proc/self/oom_adj", O_WRONLY);
	if (setuid(65534))
		perror("setuid");
	put(fd, "oom_score_adj", "300", 3);
	put(fd, "oom_score_adj", "200", 3);
	put(fd, "oom_score_adj", "-5", 2);
	put(lfd, "oom_adj", "1", 1);
	put(lfd, "oom_adj", "5", 1);
	show("nobody");
}

// privileged: lowering with CAP_SYS_RESOURCE, which sets the minimum.
static void privileged(void) {
	printf("CAP_SYS_RESOURCE: %d\n", has_sys_resource());
	putadj("-500");
	show("after -500");
	score("at -500", -500);
	putadj("200");
	putadj("-100");
	show("after 200 and -100");
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/proc/self/oom_score_adj", O_WRONLY);
		if (setuid(65534))
			perror("setuid");
		put(fd, "oom_score_adj", "-101", 4);
		put(fd, "oom_score_adj", "300", 3);
		put(fd, "oom_score_adj", "-100", 4);
		show("nobody, minimum -100");
		_exit(0);
	}
	wait_child(pid);
	putlegacy("-17");
	show("after oom_adj -17");
	printf("oom_score at -1000: %d\n", readint("/proc/self/oom_score"));
	putlegacy("-16");
	show("after oom_adj -16");
	putlegacy("-17");
	putadj("-1000");
	show("after -1000");
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "exec") == 0) {
		show("after exec");
		return 0;
	}
	int priv = argc > 1 && strcmp(argv[1], "priv") == 0;
	if (!priv)
		drop_sys_resource();
	pid_t pid = fork();
	if (pid == 0) {
		if (priv)
			privileged();
		else
			unprivileged(argv[0]);
		_exit(0);
	}
	wait_child(pid);
	if (!priv) {
		pid = fork();
		if (pid == 0) {
			nobody();
			_exit(0);
		}
		wait_child(pid);
	}
	return 0;
}
