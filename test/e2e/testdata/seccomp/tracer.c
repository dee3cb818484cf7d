// SECCOMP_RET_TRACE with a tracer that asked for PTRACE_O_TRACESECCOMP:
// the tracee's filter traces getppid (data 7), getuid (data 8) and
// getgid (data 9). At each PTRACE_EVENT_SECCOMP stop the tracer reads the
// data and skips getppid with a result of its own (orig_rax -1), turns
// getuid into getpid, and lets getgid run. Without such a tracer, the
// same filter makes the calls fail with ENOSYS. Printed for a comparison
// with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define TRACE(nr, data) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | (data))

static void install(void) {
	struct sock_filter f[] = {
		LOAD_NR,
		TRACE(SYS_getppid, 7),
		TRACE(SYS_getuid, 8),
		TRACE(SYS_getgid, 9),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("install");
		exit(1);
	}
}

// calls makes the three traced calls and reports what each returned,
// relative to what the process knows (so that pids do not differ).
static void calls(const char *who) {
	pid_t pid = getpid(), ppid = (pid_t)syscall(SYS_getppid);
	int ppidErr = errno;
	long uid = syscall(SYS_getuid);
	int uidErr = errno;
	long gid = syscall(SYS_getgid);
	printf("%s: getppid %s (errno %d), getuid is pid %d (%ld, errno %d), getgid %ld\n", who,
		ppid == 4242 ? "4242 from the tracer" : ppid < 0 ? "-1" : "other", ppid < 0 ? ppidErr : 0,
		uid == pid, uid < 0 ? uid : 0, uid < 0 ? uidErr : 0, gid);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t child = fork();
	if (child == 0) {
		install();
		errno = 0;
		calls("untraced");
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);

	child = fork();
	if (child == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		install();
		errno = 0;
		calls("traced");
		_exit(0);
	}
	waitpid(child, &st, 0);
	if (!WIFSTOPPED(st)) {
		printf("no initial stop: %#x\n", st);
		return 1;
	}
	ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACESECCOMP);
	ptrace(PTRACE_CONT, child, 0, 0);
	for (;;) {
		if (waitpid(child, &st, 0) < 0) {
			perror("waitpid");
			return 1;
		}
		if (WIFEXITED(st)) {
			printf("tracee exited %d\n", WEXITSTATUS(st));
			break;
		}
		if (!WIFSTOPPED(st))
			continue;
		int sig = WSTOPSIG(st);
		if (sig == SIGTRAP && (st >> 16) == PTRACE_EVENT_SECCOMP) {
			unsigned long data = 0;
			ptrace(PTRACE_GETEVENTMSG, child, 0, &data);
			struct user_regs_struct r;
			ptrace(PTRACE_GETREGS, child, 0, &r);
			printf("seccomp stop: data %lu, call %s, rax %lld\n", data,
				r.orig_rax == SYS_getppid ? "getppid" : r.orig_rax == SYS_getuid ? "getuid" : r.orig_rax == SYS_getgid ? "getgid" : "other",
				(long long)r.rax);
			if (r.orig_rax == SYS_getppid) {
				r.orig_rax = -1;
				r.rax = 4242;
				ptrace(PTRACE_SETREGS, child, 0, &r);
			} else if (r.orig_rax == SYS_getuid) {
				r.orig_rax = SYS_getpid;
				ptrace(PTRACE_SETREGS, child, 0, &r);
			}
			sig = 0;
		}
		ptrace(PTRACE_CONT, child, 0, sig);
	}
	return 0;
}
