// PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH and
// PTRACE_KILL of running children, signal-delivery-stops (a signal
// injected into a handler, one suppressed, one changed), and the
// errors of requests a tracer may not make.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void handler(int sig) { got = sig; }

// looper waits for a byte on fd, then reports the signals its handler saw.
static void looper(int fd, int ready) {
	signal(SIGUSR1, handler);
	signal(SIGUSR2, handler);
	signal(SIGHUP, handler);
	write(ready, "r", 1);
	char c;
	while (read(fd, &c, 1) != 1)
		;
	char buf[64];
	int n = snprintf(buf, sizeof buf, "looper: handler saw %d\n", (int)got);
	write(1, buf, n);
	_exit(7);
}

// show prints what a ptrace request returned and its errno.
static void show(const char *what, long r) {
	int e = errno;
	printf("%s: %ld %s\n", what, r, r == -1 ? strerror(e) : "");
}

static void status(const char *what, int st) {
	if (WIFSTOPPED(st))
		printf("%s: stopped sig %d event %d\n", what, WSTOPSIG(st), st >> 16);
	else if (WIFEXITED(st))
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by %d\n", what, WTERMSIG(st));
}

static void attach(void) {
	int p[2], r[2];
	char c;
	pipe(p);
	pipe(r);
	pid_t pid = fork();
	if (pid == 0)
		looper(p[0], r[1]);
	read(r[0], &c, 1);
	int st;
	show("attach", ptrace(PTRACE_ATTACH, pid, 0, 0));
	show("second attach", ptrace(PTRACE_ATTACH, pid, 0, 0));
	waitpid(pid, &st, 0);
	status("attach", st);
	struct user_regs_struct regs;
	show("getregs", ptrace(PTRACE_GETREGS, pid, 0, &regs));
	unsigned long mask = 0, newmask = 1UL << (SIGWINCH - 1);
	show("getsigmask", ptrace(PTRACE_GETSIGMASK, pid, 8, &mask));
	printf("mask %#lx\n", mask);
	show("getsigmask of a bad size", ptrace(PTRACE_GETSIGMASK, pid, 4, &mask));
	show("setsigmask", ptrace(PTRACE_SETSIGMASK, pid, 8, &newmask));
	show("getsigmask", ptrace(PTRACE_GETSIGMASK, pid, 8, &mask));
	printf("mask %#lx\n", mask);
	newmask = 0;
	ptrace(PTRACE_SETSIGMASK, pid, 8, &newmask);
	// A stopped tracee gets SIGUSR1: it is seen when it runs on.
	kill(pid, SIGUSR1);
	ptrace(PTRACE_CONT, pid, 0, 0); // the SIGSTOP is suppressed
	waitpid(pid, &st, 0);
	status("after cont", st);
	siginfo_t si;
	ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
	printf("siginfo: signo %d code %d\n", si.si_signo, si.si_code);
	ptrace(PTRACE_CONT, pid, 0, SIGUSR1); // delivered to the handler
	kill(pid, SIGUSR2);
	waitpid(pid, &st, 0);
	status("usr2", st);
	ptrace(PTRACE_CONT, pid, 0, 0); // suppressed
	kill(pid, SIGHUP);
	waitpid(pid, &st, 0);
	status("hup", st);
	show("detach", ptrace(PTRACE_DETACH, pid, 0, 0));
	show("cont after detach", ptrace(PTRACE_CONT, pid, 0, 0));
	write(p[1], "x", 1);
	waitpid(pid, &st, 0);
	status("end", st);
}

static void seize(void) {
	int p[2], r[2];
	char c;
	pipe(p);
	pipe(r);
	pid_t pid = fork();
	if (pid == 0)
		looper(p[0], r[1]);
	read(r[0], &c, 1);
	int st;
	show("seize", ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD));
	show("cont while running", ptrace(PTRACE_CONT, pid, 0, 0));
	show("interrupt", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
	waitpid(pid, &st, 0);
	status("interrupted", st);
	show("kill", ptrace(PTRACE_KILL, pid, 0, 0));
	waitpid(pid, &st, 0);
	status("killed", st);
	printf("wait again: %d %s\n", (int)waitpid(pid, &st, WNOHANG), strerror(errno));
}

// stopped attaches to a child in a group stop: the tracer's requests work
// at once, its wait sees the stop, and after PTRACE_DETACH the child is
// still stopped until SIGCONT.
static void stopped(void) {
	pid_t pid = fork();
	if (pid == 0) {
		raise(SIGSTOP);
		printf("stopped child continues\n");
		_exit(6);
	}
	int st;
	waitpid(pid, &st, WUNTRACED);
	status("group stop", st);
	show("attach stopped", ptrace(PTRACE_ATTACH, pid, 0, 0));
	errno = 0;
	long v = ptrace(PTRACE_PEEKUSER, pid, 0, 0);
	printf("peekuser at once: errno %d %s\n", errno, v == -1 && errno ? "failed" : "ok");
	waitpid(pid, &st, 0);
	status("tracer sees", st);
	show("detach stopped", ptrace(PTRACE_DETACH, pid, 0, 0));
	printf("still stopped: %d\n", waitpid(pid, &st, WNOHANG));
	kill(pid, SIGCONT);
	waitpid(pid, &st, 0);
	status("stopped child", st);
}

// listen seizes a child in a group stop: the stop is a PTRACE_EVENT_STOP
// trap; PTRACE_LISTEN leaves it stopped until SIGCONT, which makes it
// trap again.
static void listen(void) {
	pid_t pid = fork();
	if (pid == 0) {
		raise(SIGSTOP);
		_exit(8);
	}
	int st;
	waitpid(pid, &st, WUNTRACED);
	status("group stop", st);
	show("seize stopped", ptrace(PTRACE_SEIZE, pid, 0, 0));
	waitpid(pid, &st, 0);
	status("trap", st);
	show("listen", ptrace(PTRACE_LISTEN, pid, 0, 0));
	show("listen again", ptrace(PTRACE_LISTEN, pid, 0, 0));
	printf("nothing to wait for: %d\n", waitpid(pid, &st, WNOHANG));
	kill(pid, SIGCONT);
	waitpid(pid, &st, 0);
	status("after SIGCONT", st);
	show("cont", ptrace(PTRACE_CONT, pid, 0, 0));
	waitpid(pid, &st, 0);
	status("then", st);
	show("cont", ptrace(PTRACE_CONT, pid, 0, 0));
	waitpid(pid, &st, 0);
	status("listened child", st);
}

// exitkill: a tracer that seized with PTRACE_O_EXITKILL exits; its
// tracee (a sibling) dies of SIGKILL.
static void exitkill(void) {
	int p[2], r[2];
	char c;
	pipe(p);
	pipe(r);
	pid_t looperpid = fork();
	if (looperpid == 0)
		looper(p[0], r[1]);
	read(r[0], &c, 1);
	pid_t tracer = fork();
	if (tracer == 0) {
		show("seize with EXITKILL", ptrace(PTRACE_SEIZE, looperpid, 0, PTRACE_O_EXITKILL));
		_exit(0);
	}
	int st;
	waitpid(tracer, &st, 0);
	status("exitkill tracer", st);
	waitpid(looperpid, &st, 0);
	status("exitkill tracee", st);
}

static void errors(void) {
	pid_t pid = fork();
	if (pid == 0) {
		show("traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
		show("traceme again", ptrace(PTRACE_TRACEME, 0, 0, 0));
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	status("traceme child", st);
	show("attach self", ptrace(PTRACE_ATTACH, getpid(), 0, 0));
	show("attach none", ptrace(PTRACE_ATTACH, 999999, 0, 0));
	show("peek untraced", ptrace(PTRACE_PEEKDATA, getppid(), 0, 0));
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	attach();
	seize();
	stopped();
	listen();
	exitkill();
	errors();
	return 0;
}
