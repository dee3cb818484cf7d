// sigframe: a signal whose frame cannot be written (its handler runs on
// an alternate stack made read-only) becomes SIGSEGV, which goes to
// SIGSEGV's handler on the normal stack; when SIGSEGV's own frame cannot
// be written, its default action ends the process (Linux's
// force_sigsegv). Prints what happened; run natively and sandboxed.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t segv_seen, usr1_seen;

static void on_segv(int sig) { (void)sig; segv_seen++; }
static void on_usr1(int sig) { (void)sig; usr1_seen++; }

static void *readonly_altstack(void) {
	size_t size = 64 << 10;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	stack_t st = {.ss_sp = p, .ss_size = size};
	if (sigaltstack(&st, NULL) != 0) {
		perror("sigaltstack");
		exit(1);
	}
	if (mprotect(p, size, PROT_READ) != 0) {
		perror("mprotect");
		exit(1);
	}
	return p;
}

static void handle(int sig, void (*h)(int), int flags) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	if (sigaction(sig, &sa, NULL) != 0) {
		perror("sigaction");
		exit(1);
	}
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	readonly_altstack();

	// SIGUSR1's frame fails: SIGSEGV's handler runs instead, the process
	// lives on.
	handle(SIGSEGV, on_segv, 0);
	handle(SIGUSR1, on_usr1, SA_ONSTACK);
	raise(SIGUSR1);
	printf("after SIGUSR1: segv handler ran %d, usr1 handler ran %d\n", (int)segv_seen, (int)usr1_seen);

	// With SIGUSR1 on the normal stack, it is handled.
	handle(SIGUSR1, on_usr1, 0);
	raise(SIGUSR1);
	printf("on the normal stack: usr1 handler ran %d\n", (int)usr1_seen);

	// SIGSEGV's own frame fails: the default action ends the process.
	pid_t pid = fork();
	if (pid == 0) {
		handle(SIGSEGV, on_segv, SA_ONSTACK);
		raise(SIGSEGV);
		printf("child survived SIGSEGV\n");
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	if (WIFSIGNALED(status))
		printf("child killed by signal %d\n", WTERMSIG(status));
	else
		printf("child exited %d\n", WEXITSTATUS(status));
	return 0;
}
