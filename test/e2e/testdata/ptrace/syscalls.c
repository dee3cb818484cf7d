// A tracer that follows its child's system calls with PTRACE_SYSCALL:
// it prints the numbers of the child's calls, reads a string the child
// writes (PTRACE_PEEKDATA), changes a call's result (PTRACE_SETREGS) and
// skips another (orig_rax -1), reads the registers with GETREGSET, and
// sees the exit event (PTRACE_O_TRACEEXIT) and the exit status.
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static void child(void) {
	if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0) {
		perror("TRACEME");
		_exit(1);
	}
	kill(getpid(), SIGSTOP);
	syscall(SYS_write, 1, "hello from the tracee\n", 22);
	long uid = syscall(SYS_getuid);
	char buf[64];
	int n = snprintf(buf, sizeof buf, "getuid returned %ld\n", uid);
	syscall(SYS_write, 1, buf, n);
	long r = syscall(SYS_getppid);
	n = snprintf(buf, sizeof buf, "skipped getppid returned %ld\n", r);
	syscall(SYS_write, 1, buf, n);
	syscall(SYS_exit_group, 3);
}

static char *peekstr(pid_t pid, unsigned long addr, size_t len) {
	static char s[256];
	size_t i;
	if (len >= sizeof s)
		len = sizeof s - 1;
	for (i = 0; i < len; i += sizeof(long)) {
		errno = 0;
		long w = ptrace(PTRACE_PEEKDATA, pid, addr + i, 0);
		if (errno != 0) {
			perror("PEEKDATA");
			exit(1);
		}
		memcpy(s + i, &w, sizeof w < len - i ? sizeof w : len - i);
	}
	s[len] = 0;
	return s;
}

int main(void) {
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	pid_t pid = fork();
	if (pid == 0)
		child();
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) {
		printf("first wait: status %#x\n", st);
		return 1;
	}
	printf("stopped by signal %d\n", WSTOPSIG(st));
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "State:", 6) == 0)
			printf("%s", line);
	if (f)
		fclose(f);
	siginfo_t si;
	if (ptrace(PTRACE_GETSIGINFO, pid, 0, &si) == 0)
		printf("siginfo signo %d code %d from child %d\n", si.si_signo, si.si_code, si.si_pid == pid);
	if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXIT) != 0)
		perror("SETOPTIONS");
	int entering = 1, nstops = 0;
	long sig = 0;
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, 0, sig) != 0) {
			perror("PTRACE_SYSCALL");
			return 1;
		}
		sig = 0;
		if (waitpid(pid, &st, 0) != pid) {
			perror("waitpid");
			return 1;
		}
		if (WIFEXITED(st)) {
			printf("exited with %d after %d syscall stops\n", WEXITSTATUS(st), nstops);
			break;
		}
		if (!WIFSTOPPED(st)) {
			printf("unexpected status %#x\n", st);
			return 1;
		}
		if (st >> 16 == PTRACE_EVENT_EXIT) {
			unsigned long msg;
			ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
			printf("exit event, message %#lx\n", msg);
			continue;
		}
		if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			printf("signal-delivery-stop %d\n", WSTOPSIG(st));
			sig = WSTOPSIG(st);
			continue;
		}
		nstops++;
		struct user_regs_struct regs;
		struct iovec iov = {&regs, sizeof regs};
		if (ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, &iov) != 0 || iov.iov_len != sizeof regs) {
			perror("GETREGSET");
			return 1;
		}
		if (entering) {
			printf("enter %lld rax %lld", regs.orig_rax, (long long)regs.rax);
			if (regs.orig_rax == SYS_write) {
				printf(" fd %lld %s", regs.rdi, peekstr(pid, regs.rsi, regs.rdx));
				// The same bytes with process_vm_readv, in two pieces.
				char a[8] = {0}, b[300] = {0};
				struct iovec local[2] = {{a, 7}, {b, sizeof b - 1}};
				struct iovec remote = {(void *)regs.rsi, regs.rdx};
				ssize_t n = process_vm_readv(pid, local, 2, &remote, 1, 0);
				printf("process_vm_readv %zd: %s|%s", n, a, b);
			}
			printf("\n");
			if (regs.orig_rax == SYS_getppid) {
				regs.orig_rax = -1;
				regs.rax = 777;
				if (ptrace(PTRACE_SETREGS, pid, 0, &regs) != 0)
					perror("SETREGS");
			}
		} else {
			printf("exit %lld = %lld\n", regs.orig_rax, (long long)regs.rax);
			if (regs.orig_rax == SYS_getuid) {
				long off = offsetof(struct user_regs_struct, rax);
				if (ptrace(PTRACE_POKEUSER, pid, off, 4242) != 0)
					perror("POKEUSER");
				errno = 0;
				long v = ptrace(PTRACE_PEEKUSER, pid, off, 0);
				printf("peekuser rax %ld errno %d\n", v, errno);
			}
		}
		entering = !entering;
	}
	if (ptrace(PTRACE_PEEKDATA, pid, 0, 0) == -1)
		printf("peek after exit: %s\n", strerror(errno));
	char c;
	struct iovec l = {&c, 1}, r = {(void *)8, 1};
	if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) == -1)
		printf("process_vm_readv of a bad address: %s\n", strerror(errno));
	if (process_vm_readv(pid, &l, 1, &r, 1, 0) == -1)
		printf("process_vm_readv of a reaped child: %s\n", strerror(errno));
	static char target[] = "before";
	struct iovec w = {"after!", 6}, wr = {target, 6};
	printf("process_vm_writev to self: %zd %s\n", process_vm_writev(getpid(), &w, 1, &wr, 1, 0), target);
	return 0;
}
