// kill, tgkill and sigqueue of another user's process are EPERM, except
// SIGCONT within the session; root (CAP_KILL) may signal anyone.
#include "common.h"
#include <sys/syscall.h>

static void report(const char *what, int r) {
	printf("%s: %s\n", what, r == 0 ? "ok" : strerror(errno));
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int ready[2];
	pipe(ready);
	pid_t victim = fork();
	if (victim == 0) {
		if (setresuid(1000, 1000, 1000) < 0) _exit(1);
		write(ready[1], "r", 1);
		for (;;) pause();
	}
	char c;
	read(ready[0], &c, 1);
	pid_t other = fork();
	if (other == 0) {
		if (setresuid(2000, 2000, 2000) < 0) _exit(1);
		report("kill SIGTERM as another user", kill(victim, SIGTERM));
		report("kill 0 as another user", kill(victim, 0));
		report("tgkill as another user", (int)syscall(SYS_tgkill, victim, victim, SIGTERM));
		union sigval v = {0};
		report("sigqueue as another user", sigqueue(victim, SIGUSR1, v));
		report("kill SIGCONT in the session", kill(victim, SIGCONT));
		report("kill a missing process", kill(999999, SIGTERM));
		_exit(0);
	}
	int st;
	waitpid(other, &st, 0);
	pid_t same = fork();
	if (same == 0) {
		if (setresuid(1000, 1000, 1000) < 0) _exit(1);
		report("kill 0 as the same user", kill(victim, 0));
		_exit(0);
	}
	waitpid(same, &st, 0);
	report("kill SIGTERM as root", kill(victim, SIGTERM));
	waitpid(victim, &st, 0);
	describe("victim", st);
	return 0;
}
