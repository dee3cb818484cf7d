// A tracer that follows its child's system calls and, while the child is
// in the syscall-enter-stop of its marker getppid, creates "phase1" and
// waits for a file "go" (the test kills the remote sentry meanwhile): the
// trace must carry on after the recovery as if nothing happened, with the
// child still traced and stopped, then resumed by the tracer.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		kill(getpid(), SIGSTOP);
		for (int i = 0; i < 3; i++)
			syscall(SYS_getpid);
		long ppid = syscall(SYS_getppid);
		syscall(SYS_write, 1, "child after the marker\n", 23);
		syscall(SYS_exit_group, ppid == getppid() ? 4 : 5);
	}
	int st, entering = 1;
	waitpid(pid, &st, 0);
	printf("stopped by %d\n", WSTOPSIG(st));
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD);
	for (;;) {
		ptrace(PTRACE_SYSCALL, pid, 0, 0);
		if (waitpid(pid, &st, 0) != pid) {
			perror("waitpid");
			return 1;
		}
		if (WIFEXITED(st)) {
			printf("exited %d\n", WEXITSTATUS(st));
			return 0;
		}
		struct user_regs_struct regs;
		ptrace(PTRACE_GETREGS, pid, 0, &regs);
		printf("%s %lld\n", entering ? "enter" : "exit", regs.orig_rax);
		if (entering && regs.orig_rax == SYS_getppid) {
			fclose(fopen("phase1", "w"));
			struct timespec ts = {0, 10000000};
			while (access("go", F_OK) != 0)
				nanosleep(&ts, NULL);
			printf("tracer goes on; child traced by us: ");
			char path[64], line[256];
			snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
			FILE *f = fopen(path, "r");
			int tp = -1;
			while (f && fgets(line, sizeof line, f))
				if (sscanf(line, "TracerPid: %d", &tp) == 1)
					break;
			printf("%d\n", tp == getpid());
		}
		entering = !entering;
	}
}
