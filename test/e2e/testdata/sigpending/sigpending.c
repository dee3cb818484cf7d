// RLIMIT_SIGPENDING: with a limit of 2, a third real-time signal sent by
// tgkill or sigqueue while two are pending (blocked) fails EAGAIN; one
// sent by kill (SI_USER) or a standard signal is not refused; taking the
// pending ones makes room again. Run as root (it becomes a user of its
// own). Output is compared with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	// Linux counts the pending signals of the real user system-wide: a
	// user of its own, so that only this process's count.
	if (setresgid(54321, 54321, 54321) != 0 || setresuid(54321, 54321, 54321) != 0) {
		perror("setresuid");
		return 1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct rlimit rl = {2, 2};
	show("setrlimit", setrlimit(RLIMIT_SIGPENDING, &rl));
	pid_t pid = getpid(), tid = syscall(SYS_gettid);
	show("tgkill 1", syscall(SYS_tgkill, pid, tid, SIGRTMIN));
	show("tgkill 2", syscall(SYS_tgkill, pid, tid, SIGRTMIN));
	show("tgkill 3", syscall(SYS_tgkill, pid, tid, SIGRTMIN));
	show("tkill 3", syscall(SYS_tkill, tid, SIGRTMIN + 1));
	union sigval v = {.sival_int = 7};
	show("sigqueue 3", sigqueue(pid, SIGRTMIN + 1, v));
	show("kill (SI_USER) 3", kill(pid, SIGRTMIN + 1));
	show("standard signal 4", syscall(SYS_tgkill, pid, tid, SIGUSR1));
	siginfo_t si;
	struct timespec zero = {0, 0};
	int taken = 0;
	while (sigtimedwait(&set, &si, &zero) > 0)
		taken++;
	printf("taken: %d\n", taken);
	show("tgkill after taking them", syscall(SYS_tgkill, pid, tid, SIGRTMIN));
	return 0;
}
