// PTRACE_SINGLESTEP through a function of the child: the tracer counts
// the instructions it steps inside work(), then steps over a syscall
// instruction (the trap comes right after it) and prints where each trap
// was; the child then runs on to its exit.
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile long counter;

extern char mark_start[], mark_end[];

__attribute__((noinline)) void work(void) {
	for (int i = 0; i < 5; i++)
		counter += i;
}

__attribute__((noinline)) void work_end(void) { counter++; }

int main(void) {
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		work();
		work_end();
		asm volatile("mark_start: mov $39, %%eax\n syscall\n nop\n nop\n mark_end: nop\n" ::: "rax", "rcx", "r11", "memory");
		_exit(counter == 11 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	unsigned long lo = (unsigned long)work, hi = (unsigned long)work_end;
	if (hi < lo) {
		printf("work_end is before work\n");
		return 1;
	}
	int inside = 0, traps = 0;
	for (;;) {
		if (ptrace(PTRACE_SINGLESTEP, pid, 0, 0) != 0) {
			perror("PTRACE_SINGLESTEP");
			return 1;
		}
		waitpid(pid, &st, 0);
		if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
			printf("unexpected status %#x\n", st);
			return 1;
		}
		traps++;
		struct user_regs_struct r;
		ptrace(PTRACE_GETREGS, pid, 0, &r);
		if (r.rip >= lo && r.rip < hi)
			inside++;
		else if (inside > 0)
			break;
	}
	siginfo_t si;
	ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
	printf("stepped %d instructions in work, trap signal %d\n", inside, si.si_signo);
	for (int i = 0; i < 100000; i++) {
		ptrace(PTRACE_SINGLESTEP, pid, 0, 0);
		waitpid(pid, &st, 0);
		struct user_regs_struct r;
		ptrace(PTRACE_GETREGS, pid, 0, &r);
		unsigned long a = (unsigned long)mark_start, b = (unsigned long)mark_end;
		if (r.rip >= a && r.rip <= b)
			printf("trap at mark+%lu\n", r.rip - a);
		if (r.rip == b)
			break;
	}
	ptrace(PTRACE_CONT, pid, 0, 0);
	waitpid(pid, &st, 0);
	printf("exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
