// A stopped process across kills of the remote sentry: the test kills
// the server while this program sleeps after each step (it writes the
// step to "progress"). After the recovery a stopped child must still be
// stopped (its threads still, /proc says T), an event its parent has not
// waited for must still be there, and one already waited for must not
// come back.
#include "common.h"

static volatile unsigned long *counters;

static void *spin(void *arg) {
	long i = (long)arg;
	for (;;) counters[i]++;
	return NULL;
}

static void step(int n) {
	FILE *f = fopen("progress", "w");
	fprintf(f, "%d\n", n);
	fclose(f);
	msleep(2000);
}

// still says whether both counters stand still for 100 ms.
static int still(void) {
	unsigned long a = counters[0], b = counters[1];
	msleep(100);
	return a == counters[0] && b == counters[1];
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	counters = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		pthread_t th;
		pthread_create(&th, NULL, spin, (void *)1);
		spin((void *)0);
	}
	while (counters[0] == 0 || counters[1] == 0) msleep(1);
	int st;
	siginfo_t si;

	// 1: stopped and waited for.
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	describe("stop", st);
	step(1);
	int frozen = 0;
	for (int i = 0; i < 50 && !frozen; i++) frozen = still();
	printf("after step 1: stat %c, threads still %s, waitpid WNOHANG %d\n", procState(pid), frozen ? "yes" : "no",
	       waitpid(pid, &st, WUNTRACED | WCONTINUED | WNOHANG));

	// 2: continued, not waited for yet.
	kill(pid, SIGCONT);
	step(2);
	memset(&si, 0, sizeof si);
	waitid(P_PID, pid, &si, WCONTINUED | WNOHANG);
	printf("after step 2: waitid code %d status %d, threads run %s\n", si.si_code, si.si_status, still() ? "no" : "yes");

	// 3: stopped by SIGTSTP, not waited for yet.
	kill(pid, SIGTSTP);
	step(3);
	memset(&si, 0, sizeof si);
	waitid(P_PID, pid, &si, WSTOPPED | WNOHANG);
	printf("after step 3: stat %c, waitid code %d status %d\n", procState(pid), si.si_code, si.si_status);
	memset(&si, 0, sizeof si);
	waitid(P_PID, pid, &si, WSTOPPED | WNOHANG);
	printf("again: pid %d\n", si.si_pid);

	// 4: stops and continues in a loop, each waited for; the test kills
	// the server during it, so some kill or wait is in flight then.
	// Every event must be reported exactly once, in order.
	int rounds = 200, anomalies = 0;
	kill(pid, SIGCONT);
	if (waitpid(pid, &st, WCONTINUED) != pid || !WIFCONTINUED(st)) anomalies++;
	for (int i = 0; i < rounds; i++) {
		if (kill(pid, i % 2 ? SIGTSTP : SIGSTOP) < 0) anomalies++;
		if (waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != (i % 2 ? SIGTSTP : SIGSTOP)) anomalies++;
		if (waitpid(pid, &st, WUNTRACED | WCONTINUED | WNOHANG) != 0) anomalies++;
		if (kill(pid, SIGCONT) < 0) anomalies++;
		if (waitpid(pid, &st, WCONTINUED) != pid || !WIFCONTINUED(st)) anomalies++;
		FILE *f = fopen("progress", "w");
		fprintf(f, "%d\n", 100 + i);
		fclose(f);
	}
	printf("%d stop/continue rounds, %d anomalies, threads run %s\n", rounds, anomalies, still() ? "no" : "yes");

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	describe("end", st);
	return 0;
}
