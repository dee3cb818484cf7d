// uts: sethostname and setdomainname as root and as another user, and
// where the names show (uname, /proc/sys/kernel). Not run natively: it
// would rename the host.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %ld\n", what, r);
}

static void names(const char *when) {
	struct utsname u;
	char h[128] = "", d[128] = "";
	uname(&u);
	int fd = open("/proc/sys/kernel/hostname", O_RDONLY);
	ssize_t n = read(fd, h, sizeof h - 1);
	close(fd);
	h[n > 0 ? n - 1 : 0] = 0; // without the newline
	fd = open("/proc/sys/kernel/domainname", O_RDONLY);
	n = read(fd, d, sizeof d - 1);
	close(fd);
	d[n > 0 ? n - 1 : 0] = 0;
	printf("%s: uname %s/%s, proc %s/%s", when, u.nodename, u.domainname, h, d);
	// A name may hold any bytes: show them.
	for (char *p = u.nodename; *p; p++)
		if ((unsigned char)*p >= 0x80)
			printf(" [%02x]", (unsigned char)*p);
	printf("\n");
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0); // children _exit
	char long65[66];
	memset(long65, 'x', 65);
	long65[65] = 0;
	show("sethostname box", sethostname("box", 3));
	show("setdomainname dom.example", setdomainname("dom.example", 11));
	names("set");
	show("sethostname 65 bytes", syscall(SYS_sethostname, long65, 65));
	show("sethostname -1", syscall(SYS_sethostname, "x", -1));
	show("sethostname bad pointer", syscall(SYS_sethostname, (char *)8, 3));
	show("setdomainname 65 bytes", syscall(SYS_setdomainname, long65, 65));
	names("after errors");
	show("sethostname 64 bytes", syscall(SYS_sethostname, long65, 64));
	show("sethostname prefix", syscall(SYS_sethostname, "host-and-more", 4));
	names("prefix");
	show("sethostname bytes", syscall(SYS_sethostname, "h\xffz", 3));
	names("bytes");
	show("setdomainname empty", syscall(SYS_setdomainname, "", 0));
	names("empty domain");
	pid_t pid = fork();
	if (pid == 0) {
		// Another user, and no capabilities: EPERM before the length.
		if (setresuid(65534, 65534, 65534) < 0) {
			perror("setresuid");
			_exit(1);
		}
		show("child sethostname", sethostname("other", 5));
		show("child sethostname 65 bytes", syscall(SYS_sethostname, long65, 65));
		show("child setdomainname", setdomainname("other", 5));
		names("child");
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	show("sethostname in parent", sethostname("parent", 6));
	pid = fork();
	if (pid == 0) {
		names("child after parent's change");
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return 0;
}
