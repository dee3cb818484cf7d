// The capability transitions of set*uid, setfsuid, PR_SET_KEEPCAPS and
// execve (each in a child), for a root parent. Masks are limited to bits
// 0-23 (see capsets.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOW 0xffffffu

static struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
static struct __user_cap_data_struct data[2];

// statusEff reports whether /proc/self/status's CapEff is the effective
// set capget returns.
static int statusEff(void) {
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	int n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	char *p = strstr(buf, "CapEff:\t");
	unsigned long long v;
	if (!p || sscanf(p + 8, "%llx", &v) != 1)
		return -1;
	return v == (data[0].effective | (unsigned long long)data[1].effective << 32);
}

static void sets(const char *what) {
	syscall(SYS_capget, &hdr, data);
	printf("status CapEff matches: %d\n", statusEff());
	printf("%s: eff %06x prm %06x inh %06x amb(net_raw) %d keepcaps %d\n", what, data[0].effective & LOW,
	       data[0].permitted & LOW, data[0].inheritable & LOW,
	       prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 0, 0), prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	fflush(stdout);
}

static void show(const char *what, long r) {
	printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
	fflush(stdout);
}

static void run(const char *name, void (*fn)(const char *), const char *self) {
	printf("== %s\n", name);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fn(self);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("status %d\n", st);
}

static void setuid_all(const char *self) {
	show("setresuid 1000", setresuid(1000, 1000, 1000));
	sets("after");
	show("setuid 0", setuid(0));
	show("chown", chown(self, 1000, 1000));
}

static void keepcaps(const char *self) {
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	show("setresuid 1000", setresuid(1000, 1000, 1000));
	sets("after");
	syscall(SYS_capget, &hdr, data);
	data[0].effective = 1u << CAP_CHOWN;
	data[1].effective = 0;
	show("capset effective CAP_CHOWN", syscall(SYS_capset, &hdr, data));
	show("chown 1234 as uid 1000 with CAP_CHOWN", chown("kc", 1234, 1234));
	show("setuid 0 without CAP_SETUID", setuid(0));
}

static void seteuid_(const char *self) {
	show("seteuid 1000", setresuid(-1, 1000, -1));
	sets("after");
	show("seteuid 0", setresuid(-1, 0, -1));
	sets("back");
}

static void setfsuid_(const char *self) {
	setfsuid(1000);
	sets("fsuid 1000");
	setfsuid(0);
	sets("fsuid 0");
}

static void exec_root(const char *self) {
	syscall(SYS_capget, &hdr, data);
	data[0].effective = 0;
	data[0].permitted &= ~(1u << CAP_KILL);
	syscall(SYS_capset, &hdr, data);
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	sets("before exec");
	execl(self, self, "show", NULL);
	show("exec", -1);
}

static void exec_user(const char *self) {
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	setresuid(1000, 1000, 1000);
	syscall(SYS_capget, &hdr, data);
	data[0].inheritable = 1u << CAP_NET_RAW;
	data[1].inheritable = 0;
	show("capset inheritable", syscall(SYS_capset, &hdr, data));
	show("ambient raise", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0));
	sets("before exec");
	execl(self, self, "show", NULL);
	show("exec", -1);
}

int main(int argc, char **argv) {
	if (argc > 1) {
		sets("after exec");
		return 0;
	}
	close(open("kc", O_CREAT | O_WRONLY, 0600));
	run("setresuid", setuid_all, argv[0]);
	run("keepcaps", keepcaps, argv[0]);
	run("seteuid", seteuid_, argv[0]);
	run("setfsuid", setfsuid_, argv[0]);
	run("exec as root", exec_root, argv[0]);
	run("exec as user with ambient", exec_user, argv[0]);
	unlink("kc");
	return 0;
}
