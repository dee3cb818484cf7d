/* mlock, mlock2, munlock, mlockall and MAP_LOCKED against RLIMIT_MEMLOCK
 * for root (CAP_IPC_LOCK) and for a user without it (LTP mmap14,
 * madvise02's locked pages). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MB (1 << 20)

static void report(const char *what, long r) {
	printf("%s: %s\n", what, r < 0 ? strerror(errno) : "ok");
}

/* vmlck is /proc/self/status's VmLck, in kB. */
static long vmlck(void) {
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmLck: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void memlock_limit(rlim_t n) {
	struct rlimit rl = {n, n};
	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		perror("setrlimit");
}

static void cases(const char *who) {
	char name[64];
	char *p = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *q;
	long before = vmlck();

#define R(what, call)                                      \
	do {                                               \
		snprintf(name, sizeof name, "%s %s", who, what); \
		report(name, (long)(call));                \
	} while (0)
	R("mlock 1M", mlock(p, MB));
	printf("%s VmLck grew %ld kB\n", who, vmlck() - before);
	/* A fork's child inherits no locks (fork(2)). */
	if (fork() == 0) {
		printf("%s child VmLck %ld kB\n", who, vmlck());
		_exit(0);
	}
	wait(NULL);
	R("madvise DONTNEED locked", madvise(p, 4096, MADV_DONTNEED));
	R("munlock", munlock(p, MB));
	R("madvise DONTNEED unlocked", madvise(p, 4096, MADV_DONTNEED));
	R("mlock 16K", mlock(p, 16384));
	R("mlock2 ONFAULT", syscall(SYS_mlock2, p, 8192, 1));
	R("mlock2 bad flags", syscall(SYS_mlock2, p, 8192, 2));
	R("mlockall 0", mlockall(0));
	R("mlockall CURRENT", mlockall(MCL_CURRENT));
	R("munlockall", munlockall());
	munmap(p + MB / 2, MB / 2);
	R("mlock over a hole", mlock(p + MB / 2 - 4096, 8192));
	q = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	R("mmap MAP_LOCKED 1M", q == MAP_FAILED ? -1 : 0);
	printf("%s VmLck after MAP_LOCKED grew %ld kB\n", who, vmlck() - before);
	if (q != MAP_FAILED)
		munmap(q, MB);
	munmap(p, MB / 2);
}

int main(void) {
	int status;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	memlock_limit(65536);
	cases("root");
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0) {
			perror("setuid");
			_exit(1);
		}
		cases("nobody 64K");
		memlock_limit(0);
		cases("nobody 0");
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return 0;
}
