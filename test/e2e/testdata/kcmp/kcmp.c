// kcmp(2): which kernel objects two tasks share, after fork, clone with
// sharing flags, pthread_create, vfork and exec; open file descriptions
// dup'ed or opened again; KCMP_EPOLL_TFD; zombies; errors. Equal objects
// print "eq"; different ones "ne" once kcmp(a, b) and kcmp(b, a) order
// them oppositely (Linux's 1 and 2). I/O contexts and undo lists are
// compared only between tasks that share them (Linux has none until a
// task needs one, so unshared ones may compare equal). Output is compared
// with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long kcmp(pid_t a, pid_t b, int type, unsigned long i1, unsigned long i2) {
	return syscall(SYS_kcmp, a, b, type, i1, i2);
}

// cmp describes kcmp(a, b, type, i1, i2), checking that the reverse
// comparison agrees.
static const char *cmp(pid_t a, pid_t b, int type, unsigned long i1, unsigned long i2) {
	static char buf[64];
	long r = kcmp(a, b, type, i1, i2);
	if (r < 0) {
		snprintf(buf, sizeof buf, "-1 %s", strerror(errno));
		return buf;
	}
	if (r == 0)
		return "eq";
	long rr = type == KCMP_EPOLL_TFD ? 3 - r : kcmp(b, a, type, i2, i1);
	if ((r == 1 && rr == 2) || (r == 2 && rr == 1))
		return "ne";
	snprintf(buf, sizeof buf, "unordered %ld/%ld", r, rr);
	return buf;
}

static const char *names[] = {"file", "vm", "files", "fs", "sighand", "io", "sysvsem"};

// shared prints the comparisons of types (a bit mask) between a and b.
static void shared(const char *what, pid_t a, pid_t b, unsigned types) {
	for (int t = KCMP_VM; t <= KCMP_SYSVSEM; t++)
		if (types & (1u << t))
			printf("%s %s: %s\n", what, names[t], cmp(a, b, t, 0, 0));
}

#define BASIC ((1u << KCMP_VM) | (1u << KCMP_FILES) | (1u << KCMP_FS) | (1u << KCMP_SIGHAND))
#define ALL (BASIC | (1u << KCMP_IO) | (1u << KCMP_SYSVSEM))

static pid_t parent;
static int fda;
static char stack[1 << 16] __attribute__((aligned(16)));

static int clone_child(void *arg) {
	unsigned types = *(unsigned *)arg;
	shared("clone child", parent, getpid(), types);
	printf("clone child file a: %s\n", cmp(parent, getpid(), KCMP_FILE, fda, fda));
	return 0;
}

static void do_clone(const char *what, int flags, unsigned types) {
	printf("-- %s\n", what);
	pid_t pid = clone(clone_child, stack + sizeof stack, flags | SIGCHLD, &types);
	if (pid < 0) {
		perror("clone");
		exit(1);
	}
	waitpid(pid, NULL, 0);
}

static pid_t thread_tid;
static void *thread_fn(void *arg) {
	(void)arg;
	thread_tid = syscall(SYS_gettid);
	return NULL;
}

static volatile pid_t waiting_tid;
static void *thread_wait(void *arg) {
	(void)arg;
	waiting_tid = syscall(SYS_gettid);
	pause();
	return NULL;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 2) {
		// Exec'ed by a vfork child: fd argv[2] is still the parent's
		// description.
		printf("vfork child before exec vm: %s\n", argv[1]);
		printf("vfork child after exec vm: %s\n", cmp(getppid(), getpid(), KCMP_VM, 0, 0));
		int fd = atoi(argv[2]);
		printf("vfork child after exec file a: %s\n", cmp(getppid(), getpid(), KCMP_FILE, fd, fd));
		return 0;
	}
	parent = getpid();
	fda = open("/proc/self/exe", O_RDONLY);
	int fdb = dup(fda);
	int fdc = open("/proc/self/exe", O_RDONLY);
	int fdp = open("/", O_PATH);
	printf("-- one process\n");
	printf("file a a: %s\n", cmp(parent, parent, KCMP_FILE, fda, fda));
	printf("file a dup(a): %s\n", cmp(parent, parent, KCMP_FILE, fda, fdb));
	printf("file a reopened: %s\n", cmp(parent, parent, KCMP_FILE, fda, fdc));
	printf("file a O_PATH: %s\n", cmp(parent, parent, KCMP_FILE, fda, fdp));
	shared("self", parent, parent, ALL);

	printf("-- fork\n");
	pid_t pid = fork();
	if (pid == 0) {
		shared("fork child", parent, getpid(), BASIC);
		printf("fork child file a: %s\n", cmp(parent, getpid(), KCMP_FILE, fda, fda));
		int fdd = open("/proc/self/exe", O_RDONLY);
		printf("fork child own file: %s\n", cmp(getpid(), parent, KCMP_FILE, fdd, fda));
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	do_clone("clone sharing all", CLONE_VM | CLONE_FILES | CLONE_FS | CLONE_SIGHAND | CLONE_IO | CLONE_SYSVSEM, ALL);
	do_clone("clone CLONE_VM", CLONE_VM, BASIC);
	do_clone("clone CLONE_FILES|CLONE_FS", CLONE_FILES | CLONE_FS, BASIC);

	printf("-- thread\n");
	pthread_t th;
	pthread_create(&th, NULL, thread_fn, NULL);
	pthread_join(th, NULL);
	// pthread_join may return before Linux has released the thread's
	// task (it wakes the joiner as the thread drops its memory): then
	// the task is still found, without an address space, for a moment.
	const char *gone = cmp(parent, thread_tid, KCMP_VM, 0, 0);
	for (int i = 0; i < 1000 && strcmp(gone, "-1 No such process") != 0; i++) {
		usleep(1000);
		gone = cmp(parent, thread_tid, KCMP_VM, 0, 0);
	}
	printf("exited thread: %s\n", gone);
	pthread_create(&th, NULL, thread_wait, NULL);
	while (waiting_tid == 0)
		sched_yield();
	pid_t tid = waiting_tid;
	shared("thread", parent, tid, BASIC | (1u << KCMP_SYSVSEM));
	printf("thread file a: %s\n", cmp(parent, tid, KCMP_FILE, fda, fda));

	printf("-- vfork and exec\n");
	pid = vfork();
	if (pid == 0) {
		char vm[64], fd[16];
		snprintf(vm, sizeof vm, "%s", cmp(parent, getpid(), KCMP_VM, 0, 0));
		snprintf(fd, sizeof fd, "%d", fda);
		execl("/proc/self/exe", argv[0], vm, fd, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);

	printf("-- epoll\n");
	int ep = epoll_create1(0), pfd[2];
	pipe(pfd);
	int pdup = dup(pfd[0]);
	struct epoll_event ev = {.events = EPOLLIN};
	epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
	struct kcmp_epoll_slot slot = {.efd = ep, .tfd = pfd[0], .toff = 0};
	printf("epoll target, itself: %s\n", cmp(parent, parent, KCMP_EPOLL_TFD, pfd[0], (unsigned long)&slot));
	printf("epoll target, dup: %s\n", cmp(parent, parent, KCMP_EPOLL_TFD, pdup, (unsigned long)&slot));
	printf("epoll target, other end: %s\n", cmp(parent, parent, KCMP_EPOLL_TFD, pfd[1], (unsigned long)&slot));
	slot.toff = 1;
	printf("epoll second target: %s\n", cmp(parent, parent, KCMP_EPOLL_TFD, pfd[0], (unsigned long)&slot));
	slot.toff = 0;
	slot.tfd = pdup;
	printf("epoll fd not added: %s\n", cmp(parent, parent, KCMP_EPOLL_TFD, pfd[0], (unsigned long)&slot));
	slot.tfd = pfd[0];
	printf("epoll bad fd1: %s\n", cmp(parent, parent, KCMP_EPOLL_TFD, 999, (unsigned long)&slot));
	slot.efd = fdc;
	printf("epoll not an epoll: %s\n", cmp(parent, parent, KCMP_EPOLL_TFD, pfd[0], (unsigned long)&slot));
	slot.efd = 999;
	printf("epoll bad efd: %s\n", cmp(parent, parent, KCMP_EPOLL_TFD, pfd[0], (unsigned long)&slot));
	printf("epoll bad slot: %s\n", cmp(parent, parent, KCMP_EPOLL_TFD, pfd[0], 8));
	pid = fork();
	if (pid == 0) {
		// The epoll instance is the child's copy's: the same one.
		slot.efd = ep;
		printf("epoll target in the parent's: %s\n", cmp(getpid(), parent, KCMP_EPOLL_TFD, pfd[0], (unsigned long)&slot));
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	printf("-- zombies\n");
	pid_t z1 = fork();
	if (z1 == 0)
		_exit(0);
	pid_t z2 = fork();
	if (z2 == 0)
		_exit(0);
	siginfo_t si;
	waitid(P_PID, z1, &si, WEXITED | WNOWAIT);
	waitid(P_PID, z2, &si, WEXITED | WNOWAIT);
	shared("two zombies", z1, z2, BASIC);
	printf("zombie and parent vm: %s\n", cmp(parent, z1, KCMP_VM, 0, 0));
	printf("zombie file: %s\n", cmp(parent, z1, KCMP_FILE, fda, fda));
	waitpid(z1, NULL, 0);
	waitpid(z2, NULL, 0);

	printf("-- errors\n");
	printf("reaped pid: %s\n", cmp(parent, z1, KCMP_VM, 0, 0));
	printf("pid 0: %s\n", cmp(0, parent, KCMP_VM, 0, 0));
	printf("type 8: %s\n", cmp(parent, parent, 8, 0, 0));
	printf("type -1: %s\n", cmp(parent, parent, -1, 0, 0));
	printf("type 8, reaped pid: %s\n", cmp(parent, z1, 8, 0, 0));
	printf("bad fd: %s\n", cmp(parent, parent, KCMP_FILE, fda, 999));
	printf("huge fd: %s\n", cmp(parent, parent, KCMP_FILE, fda, 1ul << 32 | fda));
	if (geteuid() != 0) {
		printf("other user: skipped (not root)\n");
		return 0;
	}
	pid = fork();
	if (pid == 0) {
		if (setresuid(65534, 65534, 65534) != 0) {
			perror("setresuid");
			_exit(1);
		}
		printf("other user, own: %s\n", cmp(getpid(), getpid(), KCMP_VM, 0, 0));
		printf("other user, root's: %s\n", cmp(getpid(), parent, KCMP_VM, 0, 0));
		printf("other user, root's, bad type: %s\n", cmp(getpid(), parent, 8, 0, 0));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	return 0;
}
