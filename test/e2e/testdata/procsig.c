// procsig: what /proc shows of a process's signals and CPUs: status's
// SigQ, SigPnd, ShdPnd, SigBlk, SigIgn, SigCgt, Cpus_allowed and
// Cpus_allowed_list, and stat's fields 31-34 (pending, blocked, ignored,
// caught), of the process and of each of its two threads, which block,
// hold pending and run on different sets. Only thread-directed signals
// are sent: a signal sent to the process is queued for one of its threads
// in the sandbox (ShdPnd stays empty), where Linux may keep it shared.
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void on_signal(int sig) { (void)sig; }

static void die(const char *what) {
	perror(what);
	_exit(1);
}

// show prints the signal and CPU lines of a status file and stat's
// fields 31-34; SigQ's count is the real user's on Linux (other
// processes may hold some), so only its lower bound and limit are shown.
static void show(const char *label, const char *dir, long queued_at_least) {
	char path[128], line[512];
	snprintf(path, sizeof path, "%s/status", dir);
	FILE *f = fopen(path, "r");
	if (!f) die(path);
	while (fgets(line, sizeof line, f)) {
		unsigned long q, lim;
		if (sscanf(line, "SigQ:\t%lu/%lu", &q, &lim) == 2) {
			struct rlimit rl;
			if (getrlimit(RLIMIT_SIGPENDING, &rl) != 0) die("getrlimit");
			printf("%s SigQ: queued>=%ld %d, limit is RLIMIT_SIGPENDING %d\n", label, queued_at_least,
			       q >= (unsigned long)queued_at_least, lim == rl.rlim_cur);
			continue;
		}
		if (!strncmp(line, "Sig", 3) || !strncmp(line, "ShdPnd", 6) || !strncmp(line, "Cpus_allowed", 12))
			printf("%s %s", label, line);
	}
	fclose(f);
	snprintf(path, sizeof path, "%s/stat", dir);
	f = fopen(path, "r");
	if (!f || !fgets(line, sizeof line, f)) die(path);
	fclose(f);
	// Fields after the command's closing parenthesis start at 3.
	char *p = strrchr(line, ')');
	if (!p) die("stat");
	int field = 2;
	printf("%s stat 31-34:", label);
	for (char *tok = strtok(p + 1, " \n"); tok; tok = strtok(NULL, " \n")) {
		field++;
		if (field >= 31 && field <= 34) printf(" %s", tok);
	}
	printf("\n");
}

static pthread_barrier_t ready, done;

static void *second(void *arg) {
	(void)arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_SETMASK, &set, NULL) != 0) die("pthread_sigmask");
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof cpus, &cpus) != 0) die("sched_setaffinity");
	// Ignored and blocked, SIGUSR2 stays pending; SIGHUP too.
	if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2) != 0) die("tgkill SIGUSR2");
	if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGHUP) != 0) die("tgkill SIGHUP");
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&done);
	return NULL;
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) sigaction(sig, &sa, NULL);
	sa.sa_handler = on_signal;
	if (sigaction(SIGUSR1, &sa, NULL) != 0 || sigaction(SIGRTMIN + 1, &sa, NULL) != 0) die("sigaction catch");
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGUSR2, &sa, NULL) != 0 || sigaction(SIGWINCH, &sa, NULL) != 0) die("sigaction ignore");

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGRTMIN + 2);
	if (sigprocmask(SIG_SETMASK, &set, NULL) != 0) die("sigprocmask");
	// Pending for the main thread: SIGINT, SIGTERM and two queued
	// real-time signals.
	if (raise(SIGINT) != 0 || raise(SIGTERM) != 0) die("raise");
	if (raise(SIGRTMIN + 2) != 0 || raise(SIGRTMIN + 2) != 0) die("raise rt");

	pthread_barrier_init(&ready, NULL, 2);
	pthread_barrier_init(&done, NULL, 2);
	pthread_t th;
	if (pthread_create(&th, NULL, second, NULL) != 0) die("pthread_create");
	pthread_barrier_wait(&ready);

	show("process", "/proc/self", 6);
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/self/task/%d", getpid());
	show("main thread", dir, 6);
	// The second thread's directory: the task entry that is not ours.
	snprintf(dir, sizeof dir, "/proc/%d/task", getpid());
	DIR *d = opendir(dir);
	if (!d) die(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == getpid()) continue;
		snprintf(dir, sizeof dir, "/proc/%d/task/%s", getpid(), e->d_name);
		show("second thread", dir, 6);
	}
	closedir(d);
	pthread_barrier_wait(&done);
	pthread_join(th, NULL);
	fflush(stdout);
	// SIGINT and SIGTERM stay blocked: leave without taking them.
	_exit(0);
}
