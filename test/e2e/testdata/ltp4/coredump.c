// Wait statuses of children killed by signals that dump core (LTP kill11,
// waitpid01, waitid10): WCOREDUMP and CLD_DUMPED with RLIMIT_CORE above
// 0, neither with 0 or for a signal that does not dump core.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t chld_code;

static void on_chld(int sig, siginfo_t *si, void *uc) { chld_code = si->si_code; }

// child dies as kind says: 0 kill(sig), 1 a segfault, 2 abort().
static pid_t child(int kind, int sig) {
	pid_t pid = fork();
	if (pid == 0) {
		if (kind == 1)
			*(volatile int *)8 = 1;
		if (kind == 2)
			abort();
		pause();
		_exit(0);
	}
	if (kind == 0)
		kill(pid, sig);
	return pid;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_chld;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGCHLD, &sa, NULL);
	for (int lim = 0; lim < 2; lim++) {
		struct rlimit rl = {lim ? 1 << 20 : 0, RLIM_INFINITY};
		if (setrlimit(RLIMIT_CORE, &rl))
			perror("setrlimit");
		struct {
			int kind, sig;
			const char *name;
		} cases[] = {
			{0, SIGQUIT, "SIGQUIT"}, {0, SIGTERM, "SIGTERM"}, {0, SIGSYS, "SIGSYS"},
			{0, SIGKILL, "SIGKILL"}, {1, SIGSEGV, "segfault"}, {2, SIGABRT, "abort"},
		};
		for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			chld_code = 0;
			pid_t pid = child(cases[i].kind, cases[i].sig);
			int status;
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			// waitid with WNOWAIT first, then wait4 reaps.
			if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT))
				perror("waitid");
			if (waitpid(pid, &status, 0) != pid)
				perror("waitpid");
			while (!chld_code)
				usleep(1000);
			printf("RLIMIT_CORE %d %s: signaled %d sig %d core %d waitid code %d status %d sigchld code %d\n",
			       lim, cases[i].name, WIFSIGNALED(status), WTERMSIG(status), WCOREDUMP(status) != 0,
			       si.si_code, si.si_status, (int)chld_code);
		}
	}
	return 0;
}
