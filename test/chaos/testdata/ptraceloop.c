// A tracer following its child's system calls with PTRACE_SYSCALL: the
// child writes n numbered lines to a file and asks for its parent's pid
// after each; the tracer reads each line from the child's memory at the
// write's syscall-enter stop (PTRACE_PEEKDATA) and checksums them, and
// prints what it saw. Under server kills the relation, the stops and
// the tracer's resumes must come back: the same counts and checksum.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static void child(int n) {
	ptrace(PTRACE_TRACEME, 0, 0, 0);
	kill(getpid(), SIGSTOP);
	long fd = syscall(SYS_openat, AT_FDCWD, "out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[64];
	for (int i = 0; i < n; i++) {
		int len = snprintf(buf, sizeof buf, "line %d\n", i);
		syscall(SYS_write, fd, buf, len);
		syscall(SYS_getppid);
	}
	syscall(SYS_exit_group, 3);
}

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	pid_t pid = fork();
	if (pid == 0)
		child(n);
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) {
		printf("first wait failed\n");
		return 1;
	}
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD);
	long writes = 0, getppids = 0, others = 0, stops = 0;
	unsigned long sum = 0;
	int entering = 1;
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, 0, 0) != 0) {
			perror("PTRACE_SYSCALL");
			return 1;
		}
		if (waitpid(pid, &st, 0) != pid) {
			perror("waitpid");
			return 1;
		}
		if (WIFEXITED(st))
			break;
		if (!WIFSTOPPED(st) || WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			printf("unexpected status %#x\n", st);
			return 1;
		}
		stops++;
		struct user_regs_struct regs;
		ptrace(PTRACE_GETREGS, pid, 0, &regs);
		if (entering) {
			if (regs.orig_rax == SYS_write) {
				writes++;
				for (unsigned long i = 0; i < regs.rdx; i += sizeof(long)) {
					long w = ptrace(PTRACE_PEEKDATA, pid, regs.rsi + i, 0);
					unsigned long m = regs.rdx - i >= sizeof(long) ? ~0UL : (1UL << (8 * (regs.rdx - i))) - 1;
					sum = sum * 31 + ((unsigned long)w & m);
				}
			} else if (regs.orig_rax == SYS_getppid) {
				getppids++;
			} else {
				others++;
			}
		}
		entering = !entering;
	}
	printf("writes %ld getppids %ld others %ld stops %ld checksum %lx exit %d\n", writes, getppids, others, stops, sum, WEXITSTATUS(st));
	return 0;
}
