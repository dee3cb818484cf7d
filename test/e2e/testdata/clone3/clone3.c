// clone3(2) through raw syscalls: a fork-like child with the tid words,
// exit signals other than SIGCHLD (and none), a thread on a stack of its
// own (stack + stack_size) with its own TLS, a CLONE_VM|CLONE_VFORK
// child on its own stack, CLONE_PIDFD beside CLONE_PARENT_SETTID,
// CLONE_CLEAR_SIGHAND, a struct larger than the kernel's, and every
// refusal in Linux's order; then glibc's pthread_create and posix_spawn,
// which try clone3 first. Output is compared with a native run; pids
// are printed only as comparisons.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

extern char **environ;

static long clone3(struct clone_args *a, size_t size) {
	return syscall(SYS_clone3, a, size);
}

// clone3_fn is clone3 whose child calls fn(arg) on the stack it was
// given and ends its thread with fn's result: syscall() could not
// return on a new stack. r8 and r9 are not touched by the syscall, and
// the child starts with the parent's registers.
static long clone3_fn(struct clone_args *a, size_t size, long (*fn)(void *), void *arg) {
	long ret;
	register void *r8 __asm__("r8") = (void *)fn;
	register void *r9 __asm__("r9") = arg;
	__asm__ volatile(
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 1f\n\t"
		"xor %%ebp, %%ebp\n\t"
		"mov %%r9, %%rdi\n\t"
		"call *%%r8\n\t"
		"mov %%rax, %%rdi\n\t"
		"mov %[exit], %%eax\n\t"
		"syscall\n\t"
		"hlt\n\t"
		"1:\n\t"
		: "=a"(ret)
		: "a"((long)SYS_clone3), "D"(a), "S"(size), "r"(r8), "r"(r9), [exit] "i"(SYS_exit)
		: "rcx", "r11", "memory");
	return ret;
}

static void expect(const char *what, struct clone_args *a, size_t size) {
	long r = clone3(a, size);
	if (r == 0)
		_exit(0); // a child made by mistake
	if (r > 0) {
		printf("%s: made a child\n", what);
		waitpid(r, NULL, __WALL);
		return;
	}
	printf("%s: %s\n", what, strerrordesc_np(errno));
}

static void status(const char *what, int st) {
	if (WIFEXITED(st))
		printf("%s: exited %d\n", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by %s\n", what, sigabbrev_np(WTERMSIG(st)));
	else
		printf("%s: status %#x\n", what, st);
}

static void count(int sig) { (void)sig; }

// A page that faults, and one that may only be read.
static char *none, *ro;

static void errors(void) {
	struct clone_args a;
	uint32_t word = 0;
	pid_t ids[2] = {5000, 5001};
#define RESET() (memset(&a, 0, sizeof a), a.exit_signal = SIGCHLD)
	RESET();
	expect("size above a page", &a, 4097);
	expect("size zero", &a, 0);
	expect("size below VER0", &a, 63);
	expect("struct unreadable", (struct clone_args *)none, 64);
	// 88 bytes ending where the faulting page begins, read as 96.
	struct clone_args *edge = (struct clone_args *)(none - 88);
	memset(edge, 0, 88);
	edge->exit_signal = SIGCHLD;
	expect("extra bytes unreadable", edge, 96);
	char big[128] = {0};
	memcpy(big, &a, sizeof a);
	big[100] = 1;
	expect("extra bytes not zero", (struct clone_args *)big, sizeof big);
	RESET(), a.set_tid = (uintptr_t)ids, a.set_tid_size = 33;
	expect("set_tid_size above 32", &a, sizeof a);
	RESET(), a.set_tid_size = 1;
	expect("set_tid_size without set_tid", &a, sizeof a);
	RESET(), a.set_tid = (uintptr_t)ids;
	expect("set_tid without set_tid_size", &a, sizeof a);
	RESET(), a.exit_signal = 65;
	expect("exit_signal 65", &a, sizeof a);
	RESET(), a.exit_signal = 0x100 | SIGCHLD;
	expect("exit_signal beyond CSIGNAL", &a, sizeof a);
	RESET(), a.flags = CLONE_INTO_CGROUP;
	expect("CLONE_INTO_CGROUP in a VER1 struct", &a, CLONE_ARGS_SIZE_VER1);
	RESET(), a.flags = CLONE_INTO_CGROUP, a.cgroup = 1ULL << 31;
	expect("CLONE_INTO_CGROUP above INT_MAX", &a, sizeof a);
	RESET(), a.set_tid = (uintptr_t)none, a.set_tid_size = 1;
	expect("set_tid unreadable", &a, sizeof a);
	RESET(), a.flags = 1ULL << 40;
	expect("unknown flag", &a, sizeof a);
	RESET(), a.flags = 0x00400000; // CLONE_DETACHED
	expect("CLONE_DETACHED", &a, sizeof a);
	RESET(), a.flags = SIGCHLD;
	expect("a signal in the flags", &a, sizeof a);
	RESET(), a.flags = CLONE_CLEAR_SIGHAND | CLONE_SIGHAND | CLONE_VM;
	expect("CLONE_CLEAR_SIGHAND with CLONE_SIGHAND", &a, sizeof a);
	RESET(), a.flags = CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
	expect("CLONE_THREAD with an exit signal", &a, sizeof a);
	RESET(), a.flags = CLONE_PARENT;
	expect("CLONE_PARENT with an exit signal", &a, sizeof a);
	RESET(), a.stack_size = 4;
	expect("stack_size without stack", &a, sizeof a);
	RESET(), a.stack = (uintptr_t)big;
	expect("stack without stack_size", &a, sizeof a);
	RESET(), a.stack = (1ULL << 47) - 4096, a.stack_size = 8192;
	expect("stack beyond user addresses", &a, sizeof a);
	RESET(), a.flags = CLONE_PIDFD | CLONE_PARENT_SETTID, a.pidfd = a.parent_tid = (uintptr_t)&word;
	expect("pidfd at parent_tid", &a, sizeof a);
	RESET(), a.flags = CLONE_THREAD | CLONE_VM, a.exit_signal = 0;
	expect("CLONE_THREAD without CLONE_SIGHAND", &a, sizeof a);
	RESET(), a.flags = CLONE_SIGHAND;
	expect("CLONE_SIGHAND without CLONE_VM", &a, sizeof a);
	ids[0] = 0;
	RESET(), a.set_tid = (uintptr_t)ids, a.set_tid_size = 1;
	expect("set_tid 0", &a, sizeof a);
	ids[0] = 1 << 30;
	expect("set_tid above pid_max", &a, sizeof a);
	ids[0] = 1;
	expect("set_tid in use", &a, sizeof a);
	RESET(), a.flags = CLONE_PIDFD;
	expect("CLONE_PIDFD without a pidfd", &a, sizeof a);
	a.pidfd = (uintptr_t)none;
	expect("CLONE_PIDFD at a faulting pidfd", &a, sizeof a);
	a.pidfd = (uintptr_t)ro;
	expect("CLONE_PIDFD at a read-only pidfd", &a, sizeof a);

	// Without CAP_SYS_ADMIN set_tid is refused before the pid is
	// looked at.
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		if (setresuid(65534, 65534, 65534) != 0)
			_exit(10);
		RESET(), a.set_tid = (uintptr_t)ids, a.set_tid_size = 1;
		expect("set_tid unprivileged", &a, sizeof a);
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	status("unprivileged child", st);
}

// pending says whether sig is pending, and takes it.
static const char *pending(int sig) {
	sigset_t set;
	sigpending(&set);
	if (!sigismember(&set, sig))
		return "no";
	sigemptyset(&set);
	sigaddset(&set, sig);
	struct timespec zero = {0};
	sigtimedwait(&set, NULL, &zero);
	return "yes";
}

static void forklike(void) {
	// The exit signals stay pending (blocked) to be looked at: the
	// exit sends them before wait can find the child.
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	pending(SIGCHLD);

	struct clone_args a = {0};
	pid_t ptid = 0, ctid = 0;
	a.flags = CLONE_PARENT_SETTID | CLONE_CHILD_SETTID;
	a.parent_tid = (uintptr_t)&ptid;
	a.child_tid = (uintptr_t)&ctid;
	a.exit_signal = SIGCHLD;
	fflush(stdout);
	long r = clone3(&a, CLONE_ARGS_SIZE_VER0);
	if (r == 0)
		_exit(ctid == getpid() && getppid() != getpid() ? 7 : 1);
	int st;
	printf("fork-like: parent_tid is the child: %s\n", ptid == r ? "yes" : "no");
	printf("fork-like: parent's child_tid untouched: %s\n", ctid == 0 ? "yes" : "no");
	printf("fork-like: waitpid: %s\n", waitpid(r, &st, 0) == r ? "the child" : strerror(errno));
	status("fork-like child (7: its child_tid was its pid)", st);
	printf("fork-like: SIGCHLD pending %s\n", pending(SIGCHLD));

	// Another exit signal: SIGUSR1 reaches the parent, and only
	// __WALL (or __WCLONE) waits for such a child.
	memset(&a, 0, sizeof a);
	a.exit_signal = SIGUSR1;
	r = clone3(&a, sizeof a);
	if (r == 0)
		_exit(3);
	printf("exit_signal SIGUSR1: waitpid without __WALL: %s\n", waitpid(r, &st, WNOHANG) < 0 ? strerrordesc_np(errno) : "found it");
	waitpid(r, &st, __WALL);
	status("exit_signal SIGUSR1 child", st);
	printf("exit_signal SIGUSR1: SIGUSR1 pending %s", pending(SIGUSR1));
	printf(", SIGCHLD pending %s\n", pending(SIGCHLD));

	// No exit signal at all.
	a.exit_signal = 0;
	r = clone3(&a, sizeof a);
	if (r == 0)
		_exit(4);
	waitpid(r, &st, __WALL);
	status("exit_signal 0 child", st);
	printf("exit_signal 0: SIGUSR1 pending %s", pending(SIGUSR1));
	printf(", SIGCHLD pending %s\n", pending(SIGCHLD));
	sigprocmask(SIG_UNBLOCK, &block, NULL);
}

// What the thread saw.
static struct {
	long tid;
	uintptr_t sp;
	uintptr_t fs0;
} seen;

static long thread_fn(void *arg) {
	int local;
	seen.tid = syscall(SYS_gettid);
	seen.sp = (uintptr_t)&local;
	uintptr_t fs0;
	__asm__ volatile("mov %%fs:0, %0" : "=r"(fs0));
	seen.fs0 = fs0;
	return (long)arg;
}

static void thread(void) {
	size_t size = 64 << 10;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	// A TLS block whose first word points to itself, as glibc's.
	static uintptr_t tls[64] __attribute__((aligned(64)));
	tls[0] = (uintptr_t)tls;
	volatile pid_t tid = 0;
	struct clone_args a = {0};
	a.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
		  CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
	a.parent_tid = a.child_tid = (uintptr_t)&tid;
	a.stack = (uintptr_t)stack;
	a.stack_size = size;
	a.tls = (uintptr_t)tls;
	long r = clone3_fn(&a, sizeof a, thread_fn, NULL);
	if (r < 0) {
		printf("thread: %s\n", strerrordesc_np(errno));
		return;
	}
	// CLONE_CHILD_CLEARTID: the word is zeroed and woken at the exit.
	pid_t v;
	while ((v = tid) != 0)
		syscall(SYS_futex, &tid, FUTEX_WAIT, v, NULL, NULL, 0);
	printf("thread: its tid %s\n", seen.tid == r ? "was returned" : "differs");
	printf("thread: ran on its stack: %s\n", seen.sp >= (uintptr_t)stack && seen.sp < (uintptr_t)stack + size ? "yes" : "no");
	printf("thread: its TLS: %s\n", seen.fs0 == (uintptr_t)tls ? "yes" : "no");
	printf("thread: same process: %s\n", getpid() != r ? "yes" : "no");
	munmap(stack, size);
}

static volatile int vfork_ran;

static long vfork_fn(void *arg) {
	(void)arg;
	vfork_ran = 1;
	return 5;
}

static void vforklike(void) {
	size_t size = 64 << 10;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct clone_args a = {0};
	a.flags = CLONE_VM | CLONE_VFORK;
	a.exit_signal = SIGCHLD;
	a.stack = (uintptr_t)stack;
	a.stack_size = size;
	long r = clone3_fn(&a, sizeof a, vfork_fn, NULL);
	// The parent resumes once the child is gone.
	printf("vfork: the child ran before the parent resumed: %s\n", vfork_ran ? "yes" : "no");
	int st;
	waitpid(r, &st, 0);
	status("vfork child", st);
	munmap(stack, size);
}

static void pidfd(void) {
	int fd = -1;
	pid_t ptid = 0;
	struct clone_args a = {0};
	a.flags = CLONE_PIDFD | CLONE_PARENT_SETTID;
	a.pidfd = (uintptr_t)&fd;
	a.parent_tid = (uintptr_t)&ptid;
	a.exit_signal = SIGCHLD;
	long r = clone3(&a, sizeof a);
	if (r == 0) {
		pause();
		_exit(0);
	}
	printf("CLONE_PIDFD: parent_tid is the child: %s\n", ptid == r ? "yes" : "no");
	printf("CLONE_PIDFD: close-on-exec: %s\n", fcntl(fd, F_GETFD) == FD_CLOEXEC ? "yes" : "no");
	printf("CLONE_PIDFD: pidfd_send_signal: %ld\n", syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0));
	siginfo_t si = {0};
	printf("CLONE_PIDFD: waitid(P_PIDFD): %d\n", waitid(P_PIDFD, fd, &si, WEXITED));
	printf("CLONE_PIDFD: the child, killed: %s\n", si.si_pid == r && si.si_code == CLD_KILLED && si.si_status == SIGKILL ? "yes" : "no");
	close(fd);
}

static void clearsighand(void) {
	struct sigaction sa = {0};
	sa.sa_handler = count;
	sa.sa_flags = SA_RESTART;
	sigaddset(&sa.sa_mask, SIGINT);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	for (int clear = 0; clear <= 1; clear++) {
		struct clone_args a = {0};
		a.flags = clear ? CLONE_CLEAR_SIGHAND : 0;
		a.exit_signal = SIGCHLD;
		fflush(stdout);
		long r = clone3(&a, sizeof a);
		if (r == 0) {
			struct sigaction u, h;
			sigaction(SIGUSR2, NULL, &u);
			sigaction(SIGHUP, NULL, &h);
			printf("%s: SIGUSR2 %s flags %s mask %s; SIGHUP %s flags %s\n",
			       clear ? "CLONE_CLEAR_SIGHAND" : "without CLONE_CLEAR_SIGHAND",
			       u.sa_handler == SIG_DFL ? "SIG_DFL" : u.sa_handler == count ? "caught" : "?",
			       u.sa_flags & SA_RESTART ? "SA_RESTART" : "none", sigismember(&u.sa_mask, SIGINT) ? "SIGINT" : "empty",
			       h.sa_handler == SIG_IGN ? "SIG_IGN" : "?", h.sa_flags & SA_RESTART ? "SA_RESTART" : "none");
			fflush(stdout);
			_exit(0);
		}
		waitpid(r, NULL, 0);
	}
	signal(SIGUSR2, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
}

static void sizes(void) {
	// A struct larger than the kernel's, its extra bytes zero, and
	// the first version.
	char big[256] = {0};
	struct clone_args *a = (struct clone_args *)big;
	a->exit_signal = SIGCHLD;
	size_t sizes[] = {sizeof big, CLONE_ARGS_SIZE_VER2, CLONE_ARGS_SIZE_VER0};
	for (int i = 0; i < 3; i++) {
		size_t size = sizes[i];
		long r = clone3(a, size);
		if (r < 0) {
			printf("size %zu: %s\n", size, strerrordesc_np(errno));
			continue;
		}
		if (r == 0)
			_exit(size & 0x7f);
		int st;
		waitpid(r, &st, 0);
		printf("size %zu: ", size);
		status("child", st);
	}
}

static void *pthread_fn(void *arg) { return (char *)arg + 1; }

static void glibc(const char *self) {
	pthread_t th;
	void *ret;
	int e = pthread_create(&th, NULL, pthread_fn, (void *)41);
	printf("pthread_create: %s\n", strerrordesc_np(e));
	pthread_join(th, &ret);
	printf("pthread_join: %ld\n", (long)ret);

	pid_t pid;
	char *argv[] = {(char *)self, "spawned", NULL};
	fflush(stdout);
	e = posix_spawn(&pid, self, NULL, NULL, argv, environ);
	// After the child's output: it runs on once it has exec'ed.
	int st;
	waitpid(pid, &st, 0);
	printf("posix_spawn: %s\n", strerrordesc_np(e));
	status("spawned child", st);
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "spawned") == 0) {
		printf("spawned child ran\n");
		return 6;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	none = two + 4096; // the page before stays writable (the edge struct)
	mprotect(none, 4096, PROT_NONE);
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	errors();
	forklike();
	thread();
	vforklike();
	pidfd();
	clearsighand();
	sizes();
	glibc(argv[0]);
	return 0;
}
