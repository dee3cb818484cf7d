// A tracer that follows fork and exec with PTRACE_O_TRACEFORK and
// PTRACE_O_TRACEEXEC (GETEVENTMSG gives the new pid), the legacy SIGTRAP
// after exec without TRACEEXEC, /proc/<pid>/status's TracerPid, and a
// tracer that exits while its tracee is stopped (the tracee is detached
// and runs on).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *self;

static void status(const char *what, int st) {
	if (WIFSTOPPED(st))
		printf("%s: stopped sig %d event %d\n", what, WSTOPSIG(st), st >> 16);
	else if (WIFEXITED(st))
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by %d\n", what, WTERMSIG(st));
}

static int tracerpid(pid_t pid) {
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int v = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "TracerPid: %d", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void forks(void) {
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		pid_t g = fork();
		if (g == 0) {
			execl(self, self, "grandchild", (char *)NULL);
			_exit(100);
		}
		int st;
		waitpid(g, &st, 0);
		printf("child: grandchild exited %d\n", WEXITSTATUS(st));
		_exit(5);
	}
	int st;
	waitpid(pid, &st, 0);
	status("child", st);
	printf("child traced by parent: %d\n", tracerpid(pid) == getpid());
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC);
	ptrace(PTRACE_CONT, pid, 0, 0);
	waitpid(pid, &st, 0);
	status("child", st);
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
	pid_t g = msg;
	// The grandchild is traced from its start, with a SIGSTOP.
	int gst;
	printf("wait grandchild: %d\n", waitpid(g, &gst, __WALL) == g);
	status("grandchild", gst);
	printf("grandchild traced by parent: %d\n", tracerpid(g) == getpid());
	ptrace(PTRACE_CONT, g, 0, 0);
	waitpid(g, &gst, __WALL);
	status("grandchild", gst);
	ptrace(PTRACE_GETEVENTMSG, g, 0, &msg);
	printf("exec event message is the grandchild: %d\n", msg == (unsigned long)g);
	ptrace(PTRACE_CONT, g, 0, 0);
	waitpid(g, &gst, __WALL);
	status("grandchild", gst);
	// The child's SIGCHLD, then its exit.
	long sig = 0;
	do {
		ptrace(PTRACE_CONT, pid, 0, sig);
		waitpid(pid, &st, 0);
		status("child", st);
		sig = WIFSTOPPED(st) ? WSTOPSIG(st) : 0;
	} while (WIFSTOPPED(st));
}

static void legacyexec(void) {
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execl(self, self, "grandchild", (char *)NULL);
		_exit(100);
	}
	int st;
	waitpid(pid, &st, 0);
	status("exec without TRACEEXEC", st);
	ptrace(PTRACE_CONT, pid, 0, 0);
	waitpid(pid, &st, 0);
	status("exec without TRACEEXEC", st);
}

static void tracerexit(void) {
	int p[2], go[2];
	pipe(p);
	// The tracee prints once told to, after our line about its tracer:
	// both run on once the tracer exits, in either order.
	pipe(go);
	pid_t tracer = fork();
	if (tracer == 0) {
		pid_t tracee = fork();
		if (tracee == 0) {
			ptrace(PTRACE_TRACEME, 0, 0, 0);
			raise(SIGSTOP);
			char c;
			read(go[0], &c, 1);
			printf("tracee runs on after its tracer exited, traced: %d\n", tracerpid(getpid()));
			fflush(stdout);
			_exit(0);
		}
		int st;
		waitpid(tracee, &st, 0);
		status("tracer sees", st);
		write(p[1], &tracee, sizeof tracee);
		_exit(0);
	}
	pid_t tracee;
	read(p[0], &tracee, sizeof tracee);
	int st;
	waitpid(tracer, &st, 0);
	status("tracer", st);
	write(go[1], "g", 1);
	// The tracee, reparented to us... or to init: wait for its line.
	for (int i = 0; i < 200 && kill(tracee, 0) == 0; i++)
		usleep(10000);
}

int main(int argc, char **argv) {
	self = argv[0];
	if (argc > 1) {
		printf("grandchild runs\n");
		return 9;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	forks();
	legacyexec();
	tracerexit();
	return 0;
}
