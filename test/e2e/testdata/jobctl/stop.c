// Group stops: SIGSTOP/SIGCONT seen through waitpid, waitid and SIGCHLD,
// /proc state, discarding of pending stop and continue signals, orphaned
// process groups, and fatal signals to a stopped process. Every line
// printed must match a native run.
#include "common.h"

static pid_t sleeper(void) {
	pid_t pid = fork();
	if (pid == 0) {
		for (;;) pause();
	}
	return pid;
}

// Basic stop, continue and kill through waitpid, with /proc states.
static void testWaitpid(void) {
	pid_t pid = sleeper();
	int st;
	kill(pid, SIGSTOP);
	pid_t r = waitpid(pid, &st, WUNTRACED);
	printf("waitpid stopped: %s\n", r == pid ? "ok" : "wrong pid");
	describe("waitpid", st);
	char s[256];
	statusState(pid, s, sizeof s);
	printf("stat %c, status %s\n", procState(pid), s);
	// A stop already reported is not reported again.
	r = waitpid(pid, &st, WUNTRACED | WNOHANG);
	printf("second waitpid: %d\n", r);
	// A second SIGSTOP to a stopped process is no new stop.
	kill(pid, SIGSTOP);
	r = waitpid(pid, &st, WUNTRACED | WNOHANG);
	printf("after a second SIGSTOP: %d\n", r);
	kill(pid, SIGCONT);
	r = waitpid(pid, &st, WCONTINUED);
	printf("waitpid continued: %s\n", r == pid ? "ok" : "wrong pid");
	describe("waitpid", st);
	printf("stat after SIGCONT is T: %s\n", procState(pid) == 'T' ? "yes" : "no");
	r = waitpid(pid, &st, WCONTINUED | WNOHANG);
	printf("second continued waitpid: %d\n", r);
	// Without WUNTRACED a stop is not reported.
	kill(pid, SIGTSTP);
	kill(pid, SIGKILL);
	r = waitpid(pid, &st, 0);
	describe("plain waitpid", st);
}

// waitid with WSTOPPED, WCONTINUED and WNOWAIT.
static void testWaitid(void) {
	pid_t pid = sleeper();
	siginfo_t si;
	kill(pid, SIGSTOP);
	memset(&si, 0, sizeof si);
	int r = waitid(P_PID, pid, &si, WSTOPPED | WNOWAIT);
	printf("waitid nowait: %d pid ok %d code %d status %d\n", r, si.si_pid == pid, si.si_code, si.si_status);
	memset(&si, 0, sizeof si);
	r = waitid(P_PID, pid, &si, WSTOPPED);
	printf("waitid: %d pid ok %d code %d status %d\n", r, si.si_pid == pid, si.si_code, si.si_status);
	memset(&si, 0, sizeof si);
	r = waitid(P_PID, pid, &si, WSTOPPED | WNOHANG);
	printf("waitid again: %d pid %d\n", r, si.si_pid);
	// WEXITED alone does not see a stop.
	memset(&si, 0, sizeof si);
	r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
	printf("waitid exited only: %d pid %d\n", r, si.si_pid);
	kill(pid, SIGCONT);
	memset(&si, 0, sizeof si);
	r = waitid(P_PID, pid, &si, WCONTINUED);
	printf("waitid continued: %d pid ok %d code %d status %d\n", r, si.si_pid == pid, si.si_code, si.si_status);
	kill(pid, SIGKILL);
	memset(&si, 0, sizeof si);
	r = waitid(P_PID, pid, &si, WEXITED);
	printf("waitid killed: %d code %d status %d\n", r, si.si_code, si.si_status);
}

// SIGCHLD with CLD_STOPPED and CLD_CONTINUED, and none with SA_NOCLDSTOP.
static void onChld(int sig, siginfo_t *si, void *uc) { (void)sig, (void)si, (void)uc; }

static void testSigchld(int nocldstop) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = onChld;
	sa.sa_flags = SA_SIGINFO | (nocldstop ? SA_NOCLDSTOP : 0);
	sigaction(SIGCHLD, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid_t pid = sleeper();
	siginfo_t si;
	int st;
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	kill(pid, SIGCONT);
	waitpid(pid, &st, WCONTINUED);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	for (int i = 0; i < 3; i++) {
		struct timespec ts = {0, 200000000};
		int sig = sigtimedwait(&set, &si, &ts);
		if (sig < 0) break;
		printf("SIGCHLD (nocldstop %d): code %d status %d\n", nocldstop, si.si_code, si.si_status);
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	signal(SIGCHLD, SIG_DFL);
}

// A SIGCONT discards a pending stop signal, and a stop signal a pending
// SIGCONT, whatever their dispositions.
static volatile sig_atomic_t got[65];
static void onSig(int sig) { got[sig]++; }

static void testDiscard(int first, int second) {
	int ready[2], go[2], out[2];
	pipe(ready), pipe(go), pipe(out);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGTSTP, onSig);
		signal(SIGCONT, onSig);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGTSTP);
		sigaddset(&set, SIGCONT);
		sigprocmask(SIG_BLOCK, &set, NULL);
		write(ready[1], "r", 1);
		char c;
		read(go[0], &c, 1);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		char buf[64];
		int n = snprintf(buf, sizeof buf, "TSTP %d CONT %d", (int)got[SIGTSTP], (int)got[SIGCONT]);
		write(out[1], buf, n);
		_exit(0);
	}
	char c;
	read(ready[0], &c, 1);
	kill(pid, first);
	kill(pid, second);
	write(go[1], "g", 1);
	char buf[64] = {0};
	read(out[0], buf, sizeof buf - 1);
	printf("%s then %s: %s\n", strsignal(first), strsignal(second), buf);
	waitpid(pid, NULL, 0);
	close(ready[0]), close(ready[1]), close(go[0]), close(go[1]), close(out[0]), close(out[1]);
}

// SIGTSTP to a process whose group is orphaned is discarded; in a group
// with a parent elsewhere in the session it stops.
static int alivePipe[2];
static void onUsr1(int sig) {
	(void)sig;
	write(alivePipe[1], "a", 1);
}

static void testOrphaned(int newSession) {
	pipe(alivePipe);
	int ready[2];
	pipe(ready);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGUSR1, onUsr1);
		if (newSession)
			setsid();
		else
			setpgid(0, 0);
		write(ready[1], "r", 1);
		for (;;) pause();
	}
	char c;
	read(ready[0], &c, 1);
	kill(pid, SIGTSTP);
	int st;
	if (newSession) {
		// Discarded, or stopped: a handled SIGUSR1 says it still runs.
		kill(pid, SIGUSR1);
		struct pollfd pfd = {alivePipe[0], POLLIN, 0};
		printf("orphaned: SIGTSTP %s\n", poll(&pfd, 1, 3000) == 1 ? "discarded" : "stopped it");
	} else {
		waitpid(pid, &st, WUNTRACED);
		describe("not orphaned", st);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(alivePipe[0]), close(alivePipe[1]), close(ready[0]), close(ready[1]);
}

// When an exit orphans a process group with a stopped member, the group
// gets SIGHUP and SIGCONT: a session leader's child in a group of its own
// stops, and the leader exits.
static int hupPipe[2];
static void onHupCont(int sig) { write(hupPipe[1], sig == SIGHUP ? "H" : "C", 1); }

static void testOrphanedHangup(void) {
	pipe(hupPipe);
	pid_t mid = fork();
	if (mid == 0) {
		setsid();
		pid_t c = fork();
		if (c == 0) {
			signal(SIGHUP, onHupCont);
			signal(SIGCONT, onHupCont);
			setpgid(0, 0);
			raise(SIGSTOP);
			// Continued: report once more, then end.
			write(hupPipe[1], "E", 1);
			_exit(0);
		}
		int st;
		waitpid(c, &st, WUNTRACED);
		_exit(WIFSTOPPED(st) ? 0 : 1);
	}
	int st;
	waitpid(mid, &st, 0);
	char buf[8] = {0};
	int n = 0;
	struct pollfd pfd = {hupPipe[0], POLLIN, 0};
	while (n < 3 && poll(&pfd, 1, 3000) == 1) n += read(hupPipe[0], buf + n, sizeof buf - 1 - n);
	printf("orphaned with a stopped member: middle %s, child got %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "saw the stop" : "did not", buf);
	close(hupPipe[0]), close(hupPipe[1]);
}

// A signal whose default action is fatal waits while the process is
// stopped (no thread takes it) and ends it once it continues.
static void testFatalWhileStopped(void) {
	pid_t pid = sleeper();
	int st;
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	kill(pid, SIGTERM);
	msleep(100);
	printf("SIGTERM to a stopped process: waitpid %d, stat %c\n", waitpid(pid, &st, WNOHANG), procState(pid));
	kill(pid, SIGCONT);
	waitpid(pid, &st, 0);
	describe("then SIGCONT", st);
}

// Every thread stops: two threads count in shared memory, and the counts
// stand still while the process is stopped.
static volatile unsigned long *counters;
static void *spin(void *arg) {
	long i = (long)arg;
	for (;;) counters[i]++;
	return NULL;
}

static void testThreads(void) {
	counters = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t th;
		pthread_create(&th, NULL, spin, (void *)1);
		spin((void *)0);
	}
	while (counters[0] == 0 || counters[1] == 0) msleep(1);
	int st;
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	int frozen = 0;
	for (int i = 0; i < 250 && !frozen; i++) {
		unsigned long a = counters[0], b = counters[1];
		msleep(20);
		frozen = a == counters[0] && b == counters[1];
	}
	printf("threads of a stopped process stand still: %s\n", frozen ? "yes" : "no");
	kill(pid, SIGCONT);
	unsigned long a = counters[0], b = counters[1];
	int moved = 0;
	for (int i = 0; i < 250 && !moved; i++) {
		msleep(20);
		moved = a != counters[0] && b != counters[1];
	}
	printf("both threads run again: %s\n", moved ? "yes" : "no");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	describe("threads", st);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	testWaitpid();
	testWaitid();
	testSigchld(0);
	testSigchld(1);
	testDiscard(SIGTSTP, SIGCONT);
	testDiscard(SIGCONT, SIGTSTP);
	testOrphaned(1);
	testOrphaned(0);
	testOrphanedHangup();
	testFatalWhileStopped();
	testThreads();
	printf("done\n");
	return 0;
}
