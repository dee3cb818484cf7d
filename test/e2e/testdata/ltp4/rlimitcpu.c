// RLIMIT_CPU (LTP setrlimit06): SIGXCPU at the soft limit, which then
// goes up a second, and SIGKILL at the hard limit; a forked child
// inherits the limit.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int *shared; // [0] SIGXCPU count, [1] soft limit seen in the handler

static void on_xcpu(int sig) {
	struct rlimit rl;
	getrlimit(RLIMIT_CPU, &rl);
	shared[0]++;
	shared[1] = rl.rlim_cur;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t child = fork();
	if (child == 0) {
		struct rlimit rl = {1, 2};
		setrlimit(RLIMIT_CPU, &rl);
		signal(SIGXCPU, on_xcpu);
		pid_t gc = fork();
		if (gc == 0) {
			alarm(60);
			for (;;)
				;
		}
		int st;
		waitpid(gc, &st, 0);
		printf("grandchild (inherited limit): signaled %d sig %d, SIGXCPU %d, soft limit then %d\n",
		       WIFSIGNALED(st), WTERMSIG(st), shared[0], shared[1]);
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);
	return 0;
}
