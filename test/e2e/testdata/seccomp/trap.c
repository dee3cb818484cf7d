// SECCOMP_RET_TRAP (SIGSYS with its siginfo), the kill actions, and
// SECCOMP_MODE_STRICT, printed for a comparison with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define DENY(nr, ret) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, (ret))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static int install(unsigned nr, unsigned ret, unsigned flags) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		LOAD_NR, DENY(nr, ret), ALLOW};
	struct sock_fprog p = {sizeof(f) / sizeof(f[0]), f};
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p);
}

static volatile int traps;
static void on_sigsys(int sig, siginfo_t *si, void *uc) {
	ucontext_t *u = uc;
	traps++;
	// The registers: the return register holds the call's number, the
	// instruction pointer is right after the system call instruction.
	printf("SIGSYS sig=%d code=%d errno=%d syscall=%d arch_ok=%d call_addr_is_rip=%d rax=%lld\n",
		sig, si->si_code, si->si_errno, si->si_syscall, si->si_arch == AUDIT_ARCH_X86_64,
		si->si_call_addr == (void *)u->uc_mcontext.gregs[REG_RIP], (long long)u->uc_mcontext.gregs[REG_RAX]);
}

static void status(const char *what, pid_t pid) {
	int st;
	if (waitpid(pid, &st, 0) != pid) {
		perror("waitpid");
		return;
	}
	if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", what, WTERMSIG(st));
	else
		printf("%s: exit %d\n", what, WEXITSTATUS(st));
}

static void *thread_getppid(void *arg) {
	(void)arg;
	syscall(SYS_getppid); // KILL_THREAD: only this thread ends
	printf("thread survived\n");
	return NULL;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

	pid_t pid = fork();
	if (pid == 0) {
		struct sigaction sa = {0};
		sa.sa_sigaction = on_sigsys;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSYS, &sa, NULL);
		install(SYS_getppid, SECCOMP_RET_TRAP | 42, 0);
		long r = syscall(SYS_getppid);
		printf("after trap: ret=%ld traps=%d\n", r, traps);
		// Blocked SIGSYS: the trap kills (force_sig).
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGSYS);
		sigprocmask(SIG_BLOCK, &set, NULL);
		syscall(SYS_getppid);
		printf("not reached\n");
		_exit(0);
	}
	status("trap, then trap blocked", pid);

	pid = fork();
	if (pid == 0) {
		signal(SIGSYS, SIG_IGN);
		install(SYS_getppid, SECCOMP_RET_TRAP, 0);
		syscall(SYS_getppid);
		printf("not reached\n");
		_exit(0);
	}
	status("trap ignored", pid);

	pid = fork();
	if (pid == 0) {
		install(SYS_getppid, SECCOMP_RET_KILL_PROCESS, 0);
		syscall(SYS_getppid);
		printf("not reached\n");
		_exit(0);
	}
	status("kill process", pid);

	pid = fork();
	if (pid == 0) {
		install(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0);
		syscall(SYS_getppid);
		printf("not reached\n");
		_exit(0);
	}
	status("kill thread, single thread", pid);

	pid = fork();
	if (pid == 0) {
		install(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0);
		pthread_t th;
		pthread_create(&th, NULL, thread_getppid, NULL);
		sleep(1);
		printf("main thread goes on\n");
		_exit(7);
	}
	status("kill thread, two threads", pid);

	pid = fork();
	if (pid == 0) {
		install(SYS_getppid, SECCOMP_RET_KILL_PROCESS, 0);
		pthread_t th;
		pthread_create(&th, NULL, thread_getppid, NULL);
		sleep(5);
		printf("not reached\n");
		_exit(7);
	}
	status("kill process from a thread", pid);

	pid = fork();
	if (pid == 0) {
		printf("strict: %ld\n", syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL));
		write(1, "strict write ok\n", 16);
		syscall(SYS_getpid);
		write(1, "not reached\n", 12);
		syscall(SYS_exit, 0);
	}
	status("strict", pid);

	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0);
		write(1, "strict via prctl\n", 17);
		syscall(SYS_exit, 3);
	}
	status("strict exit", pid);
	return 0;
}
