// membarrier(2): the commands the query offers (but the rseq ones), each
// with Linux's answer; an expedited barrier needs its registration, which
// fork keeps and exec drops. Output is compared with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long mb(int cmd, unsigned flags) { return syscall(SYS_membarrier, cmd, flags, 0); }

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1) {
		show("after exec, private expedited", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
		return 0;
	}
	long q = mb(MEMBARRIER_CMD_QUERY, 0);
	printf("query (without rseq's): %#lx\n", q & 0x7f);
	show("query with flags", mb(MEMBARRIER_CMD_QUERY, 1));
	show("unknown command", mb(1 << 20, 0));
	show("global", mb(MEMBARRIER_CMD_GLOBAL, 0));
	show("global with flags", mb(MEMBARRIER_CMD_GLOBAL, 1));
	show("private expedited, unregistered", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
	show("sync core, unregistered", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0));
	show("global expedited", mb(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0));
	show("register private expedited", mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0));
	show("private expedited", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
	show("sync core, still unregistered", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0));
	show("register sync core", mb(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0));
	show("sync core", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0));
	show("register global expedited", mb(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0));
	pid_t pid = fork();
	if (pid == 0) {
		show("forked child, private expedited", mb(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	execl("/proc/self/exe", argv[0], "after", (char *)NULL);
	return 1;
}
