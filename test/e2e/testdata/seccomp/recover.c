// Filters installed before a server failure still apply after the
// recovery: the program installs them, says so with the file
// "installed", waits for the file "go" (the test kills the server in
// between), then makes the filtered calls, in itself and in a child
// forked before the kill.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define DENY(nr, ret) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, (ret))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static volatile int traps;
static void on_sigsys(int sig, siginfo_t *si, void *uc) {
	(void)sig;
	(void)uc;
	traps = si->si_errno;
}

static void calls(const char *who) {
	errno = 0;
	long r = syscall(SYS_getppid);
	printf("%s getppid: %ld %s\n", who, r, strerror(errno));
	errno = 0;
	r = mkdir("made-by-seccomp-test", 0755);
	printf("%s mkdir: %ld %s\n", who, r, strerror(errno));
	traps = 0;
	r = syscall(SYS_getpgid, 0);
	printf("%s getpgid: ret=%ld trap data %d\n", who, r, traps);
	printf("%s mode %d\n", who, prctl(PR_GET_SECCOMP));
}

static void wait_go(void) {
	struct stat st;
	struct timespec ts = {0, 10 * 1000 * 1000};
	for (int i = 0; i < 6000 && stat("go", &st) != 0; i++)
		nanosleep(&ts, NULL);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = {0};
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	struct sock_filter f[] = {
		LOAD_NR,
		DENY(SYS_getppid, SECCOMP_RET_ERRNO | EPERM),
		DENY(SYS_mkdir, SECCOMP_RET_ERRNO | EACCES),
		DENY(SYS_getpgid, SECCOMP_RET_TRAP | 7),
		ALLOW};
	struct sock_fprog p = {sizeof(f) / sizeof(f[0]), f};
	printf("install: %ld\n", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p));
	pid_t pid = fork();
	if (pid == 0) {
		wait_go();
		calls("child");
		_exit(0);
	}
	close(open("installed", O_CREAT | O_WRONLY, 0644));
	wait_go();
	waitpid(pid, NULL, 0);
	calls("parent");
	return 0;
}
