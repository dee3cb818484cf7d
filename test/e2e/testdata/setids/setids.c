/* setids: setresuid/setresgid calls that change nothing (make's children
 * make two before each exec), then changes, and the fs ids a set*id call
 * resets. Raw system calls: glibc's wrappers would signal every thread. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

static void show(const char *when) {
	uid_t r, e, s;
	gid_t rg, eg, sg;
	if (getresuid(&r, &e, &s) || getresgid(&rg, &eg, &sg)) {
		perror("getres*id");
		exit(1);
	}
	/* -1 is no valid id: setfsuid and setfsgid only say the current one. */
	int fsu = setfsuid(-1), fsg = setfsgid(-1);
	printf("%s: uid %u %u %u fs %d, gid %u %u %u fs %d\n", when, r, e, s, fsu, rg, eg, sg, fsg);
}

static void must(long ret, const char *what) {
	if (ret != 0) {
		perror(what);
		exit(1);
	}
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 1;
	for (int i = 0; i < rounds; i++) {
		must(syscall(SYS_setresuid, -1, geteuid(), -1), "setresuid(-1, euid, -1)");
		must(syscall(SYS_setresgid, -1, getegid(), -1), "setresgid(-1, egid, -1)");
		must(syscall(SYS_setresuid, getuid(), -1, -1), "setresuid(uid, -1, -1)");
	}
	show("no-ops");
	must(syscall(SYS_setresgid, -1, 1000, -1), "setresgid(-1, 1000, -1)");
	must(syscall(SYS_setresuid, -1, 1000, -1), "setresuid(-1, 1000, -1)");
	show("effective 1000");
	must(syscall(SYS_setresuid, -1, 1000, -1), "setresuid(-1, 1000, -1) again");
	must(syscall(SYS_setresuid, -1, 0, -1), "setresuid(-1, 0, -1)");
	must(syscall(SYS_setresgid, -1, 0, -1), "setresgid(-1, 0, -1)");
	show("effective 0");
	setfsuid(1000);
	setfsgid(1000);
	show("fs ids 1000");
	must(syscall(SYS_setresuid, -1, -1, -1), "setresuid(-1, -1, -1)");
	show("setresuid resets the fs uid");
	must(syscall(SYS_setresgid, -1, 0, -1), "setresgid(-1, 0, -1)");
	show("setresgid resets the fs gid");
	return 0;
}
