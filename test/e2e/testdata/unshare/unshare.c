// unshare(2): unshare(0); CLONE_FILES after a clone with CLONE_FILES (a
// close in one task no longer reaches the other); CLONE_FS after a clone
// with CLONE_FS (chdir and umask no longer shared); CLONE_SYSVSEM (a lone
// undo list's adjustments applied, a shared one's kept, the list no
// longer the other task's); CLONE_THREAD, CLONE_SIGHAND and CLONE_VM with
// nothing to unshare and with something (EINVAL); unknown flags; the
// namespace flags an unprivileged caller asks for (EPERM) and
// CLONE_NEWUSER from a multithreaded process (EINVAL). Output is compared
// with a native run, so nothing here may make a namespace natively.
//
// With the argument "sandbox" it prints instead what only the sandbox
// answers (the test compares it with what the sandbox documents): the
// namespace flags from a privileged caller (EINVAL: no namespaces) and
// CLONE_FILES or CLONE_FS from a thread of a multithreaded process
// (EINVAL: the tables are per process). It is never run natively, where
// the first would make namespaces.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void result(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static long unshare_raw(unsigned long flags) { return syscall(SYS_unshare, flags); }

static const char *kcmp_eq(pid_t a, pid_t b, int type) {
	long r = syscall(SYS_kcmp, a, b, type, 0, 0);
	if (r < 0)
		return strerror(errno);
	return r == 0 ? "eq" : "ne";
}

static int fdopen_p(int fd) { return fcntl(fd, F_GETFD) >= 0; }

// fork_flags is a fork that shares what flags say (no CLONE_VM: the child
// has its own copy of the stack, as fork's).
static pid_t fork_flags(unsigned long flags) {
	return syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

static void wait_child(pid_t pid) {
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("child failed: %#x\n", status);
		exit(1);
	}
}

static void test_files(void) {
	printf("-- CLONE_FILES\n");
	int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY);
	int go[2];
	pipe(go);
	pid_t parent = getpid();
	pid_t pid = fork_flags(CLONE_FILES);
	if (pid == 0) {
		close(b);
		printf("child: files before: %s\n", kcmp_eq(parent, getpid(), KCMP_FILES));
		result("child: unshare(CLONE_FILES)", unshare_raw(CLONE_FILES));
		printf("child: files after: %s\n", kcmp_eq(parent, getpid(), KCMP_FILES));
		close(a);
		int c = open("/dev/null", O_RDONLY);
		printf("child: a open %d, new fd %s a\n", fdopen_p(a), c == a ? "reuses" : "is not");
		// A second unshare of a table no one else uses keeps it.
		result("child: unshare(CLONE_FILES) again", unshare_raw(CLONE_FILES));
		printf("child: new fd still open %d\n", fdopen_p(c));
		fflush(stdout);
		_exit(0);
	}
	wait_child(pid);
	printf("parent: a open %d, b open %d\n", fdopen_p(a), fdopen_p(b));
	close(a);
	close(go[0]);
	close(go[1]);
}

static void test_fs(void) {
	printf("-- CLONE_FS\n");
	char cwd[256];
	umask(022);
	chdir("/");
	pid_t parent = getpid();
	int sync1[2], sync2[2];
	pipe(sync1);
	pipe(sync2);
	pid_t pid = fork_flags(CLONE_FS);
	if (pid == 0) {
		char c;
		chdir("/tmp");
		umask(027);
		write(sync1[1], "x", 1);
		read(sync2[0], &c, 1); // the parent looked
		printf("child: fs before: %s\n", kcmp_eq(parent, getpid(), KCMP_FS));
		result("child: unshare(CLONE_FS)", unshare_raw(CLONE_FS));
		printf("child: fs after: %s\n", kcmp_eq(parent, getpid(), KCMP_FS));
		chdir("/");
		umask(077);
		printf("child: cwd %s umask %03o\n", getcwd(cwd, sizeof cwd), umask(077));
		fflush(stdout);
		_exit(0);
	}
	char c;
	read(sync1[0], &c, 1);
	mode_t m = umask(0);
	umask(m);
	printf("parent (shared): cwd %s umask %03o\n", getcwd(cwd, sizeof cwd), m);
	fflush(stdout);
	write(sync2[1], "x", 1);
	wait_child(pid);
	m = umask(0);
	umask(m);
	printf("parent (after): cwd %s umask %03o\n", getcwd(cwd, sizeof cwd), m);
	chdir("/");
	umask(022);
	close(sync1[0]);
	close(sync1[1]);
	close(sync2[0]);
	close(sync2[1]);
}

static int semval(int id) { return semctl(id, 0, GETVAL); }

static void test_sysvsem(void) {
	printf("-- CLONE_SYSVSEM\n");
	int id = semget(IPC_PRIVATE, 1, 0600);
	if (id < 0) {
		perror("semget");
		exit(1);
	}
	struct sembuf up = {0, 1, SEM_UNDO};
	// A process's own list: unshare drops its last use, as exit, so the
	// adjustment is applied.
	pid_t pid = fork();
	if (pid == 0) {
		semop(id, &up, 1);
		printf("lone: value after semop %d\n", semval(id));
		result("lone: unshare(CLONE_SYSVSEM)", unshare_raw(CLONE_SYSVSEM));
		printf("lone: value after unshare %d\n", semval(id));
		// The new list is empty: a second unshare changes nothing.
		result("lone: unshare(CLONE_SYSVSEM) again", unshare_raw(CLONE_SYSVSEM));
		printf("lone: value %d\n", semval(id));
		fflush(stdout);
		_exit(0);
	}
	wait_child(pid);
	printf("lone: value after exit %d\n", semval(id));
	semctl(id, 0, SETVAL, 0);

	// A list shared with the parent (CLONE_SYSVSEM): the child's unshare
	// leaves it the parent's.
	semop(id, &up, 1);
	pid_t parent = getpid();
	pid = fork_flags(CLONE_SYSVSEM);
	if (pid == 0) {
		printf("shared: sysvsem before: %s\n", kcmp_eq(parent, getpid(), KCMP_SYSVSEM));
		result("shared: unshare(CLONE_SYSVSEM)", unshare_raw(CLONE_SYSVSEM));
		printf("shared: value after unshare %d\n", semval(id));
		printf("shared: sysvsem after: %s\n", kcmp_eq(parent, getpid(), KCMP_SYSVSEM));
		fflush(stdout);
		_exit(0);
	}
	wait_child(pid);
	printf("shared: value after the child's exit %d\n", semval(id));
	semctl(id, 0, IPC_RMID);
}

static char stack[1 << 16] __attribute__((aligned(16)));

static int vm_child(void *arg) {
	(void)arg;
	result("CLONE_VM child: unshare(CLONE_VM)", unshare_raw(CLONE_VM));
	result("CLONE_VM child: unshare(CLONE_SIGHAND)", unshare_raw(CLONE_SIGHAND));
	result("CLONE_VM child: unshare(CLONE_THREAD)", unshare_raw(CLONE_THREAD));
	fflush(stdout);
	return 0;
}

static int sighand_child(void *arg) {
	(void)arg;
	result("CLONE_SIGHAND child: unshare(CLONE_SIGHAND)", unshare_raw(CLONE_SIGHAND));
	result("CLONE_SIGHAND child: unshare(CLONE_THREAD)", unshare_raw(CLONE_THREAD));
	fflush(stdout);
	return 0;
}

static int stop_thread[2];

static volatile pid_t sleeper_tid;

static void *sleeper(void *arg) {
	(void)arg;
	char c;
	sleeper_tid = syscall(SYS_gettid);
	read(stop_thread[0], &c, 1);
	return NULL;
}

// with_thread runs f with a second thread alive.
static void with_thread(void (*f)(void)) {
	pthread_t th;
	pipe(stop_thread);
	pthread_create(&th, NULL, sleeper, NULL);
	f();
	write(stop_thread[1], "x", 1);
	pthread_join(th, NULL);
	// Linux wakes the joiner (CLONE_CHILD_CLEARTID) before the thread
	// has let go of the address space; until its task goes, unshare
	// still sees it (current_is_single_threaded). Wait for that.
	char task[64];
	snprintf(task, sizeof task, "/proc/self/task/%d", (int)sleeper_tid);
	for (int i = 0; i < 5000 && access(task, F_OK) == 0; i++)
		usleep(1000);
	close(stop_thread[0]);
	close(stop_thread[1]);
}

static void threaded_checks(void) {
	result("threaded: unshare(CLONE_THREAD)", unshare_raw(CLONE_THREAD));
	result("threaded: unshare(CLONE_SIGHAND)", unshare_raw(CLONE_SIGHAND));
	result("threaded: unshare(CLONE_VM)", unshare_raw(CLONE_VM));
	result("threaded: unshare(CLONE_NEWUSER)", unshare_raw(CLONE_NEWUSER));
	result("threaded: unshare(CLONE_SYSVSEM)", unshare_raw(CLONE_SYSVSEM));
	result("threaded: unshare(0)", unshare_raw(0));
}

static void test_threads(void) {
	printf("-- CLONE_THREAD, CLONE_SIGHAND, CLONE_VM\n");
	pid_t pid = fork();
	if (pid == 0) {
		result("alone: unshare(CLONE_THREAD)", unshare_raw(CLONE_THREAD));
		result("alone: unshare(CLONE_SIGHAND)", unshare_raw(CLONE_SIGHAND));
		result("alone: unshare(CLONE_VM)", unshare_raw(CLONE_VM));
		with_thread(threaded_checks);
		// The thread is gone: nothing to unshare again.
		result("after join: unshare(CLONE_VM)", unshare_raw(CLONE_VM));
		fflush(stdout);
		_exit(0);
	}
	wait_child(pid);
	pid = clone(vm_child, stack + sizeof stack, CLONE_VM | SIGCHLD, NULL);
	wait_child(pid);
	pid = clone(sighand_child, stack + sizeof stack, CLONE_VM | CLONE_SIGHAND | SIGCHLD, NULL);
	wait_child(pid);
}

static const struct {
	const char *name;
	unsigned long flag;
} nsflags[] = {
	{"CLONE_NEWNS", CLONE_NEWNS},
	{"CLONE_NEWUTS", CLONE_NEWUTS},
	{"CLONE_NEWIPC", CLONE_NEWIPC},
	{"CLONE_NEWNET", CLONE_NEWNET},
	{"CLONE_NEWPID", CLONE_NEWPID},
	{"CLONE_NEWCGROUP", CLONE_NEWCGROUP},
	{"CLONE_NEWTIME", 0x80},
};

static void test_errors(void) {
	printf("-- errors\n");
	result("unshare(0)", unshare_raw(0));
	result("unshare(-1)", unshare_raw(-1UL));
	result("unshare(CLONE_PARENT)", unshare_raw(CLONE_PARENT));
	result("unshare(CLONE_IO)", unshare_raw(CLONE_IO));
	result("unshare(CLONE_FILES|CLONE_VFORK)", unshare_raw(CLONE_FILES | CLONE_VFORK));
	result("unshare(1UL << 40)", unshare_raw(1UL << 40));
	// Unprivileged: every namespace but the user one needs
	// CAP_SYS_ADMIN, so none is made natively.
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534)) {
			perror("setuid");
			_exit(1);
		}
		for (unsigned i = 0; i < sizeof nsflags / sizeof nsflags[0]; i++) {
			char what[64];
			snprintf(what, sizeof what, "nobody: unshare(%s)", nsflags[i].name);
			result(what, unshare_raw(nsflags[i].flag));
		}
		result("nobody: unshare(CLONE_NEWNS|CLONE_FILES)", unshare_raw(CLONE_NEWNS | CLONE_FILES));
		// An unknown bit fails before the privilege check.
		result("nobody: unshare(CLONE_NEWUTS|CLONE_PARENT)", unshare_raw(CLONE_NEWUTS | CLONE_PARENT));
		fflush(stdout);
		_exit(0);
	}
	wait_child(pid);
}

// The sandbox's own answers (see the top).
static void sandbox_threaded(void) {
	result("threaded: unshare(CLONE_FILES)", unshare_raw(CLONE_FILES));
	result("threaded: unshare(CLONE_FS)", unshare_raw(CLONE_FS));
	result("threaded: unshare(CLONE_NEWNS)", unshare_raw(CLONE_NEWNS));
}

static void sandbox_only(void) {
	// nsflags[0], CLONE_NEWNS, is the one namespace the sandbox has
	// (testdata/mountns).
	for (unsigned i = 1; i < sizeof nsflags / sizeof nsflags[0]; i++) {
		char what[64];
		snprintf(what, sizeof what, "root: unshare(%s)", nsflags[i].name);
		result(what, unshare_raw(nsflags[i].flag));
	}
	result("root: unshare(CLONE_NEWUSER)", unshare_raw(CLONE_NEWUSER));
	with_thread(sandbox_threaded);
	result("alone again: unshare(CLONE_FILES|CLONE_FS)", unshare_raw(CLONE_FILES | CLONE_FS));
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "sandbox") == 0) {
		sandbox_only();
		return 0;
	}
	test_errors();
	test_files();
	test_fs();
	test_sysvsem();
	test_threads();
	return 0;
}
