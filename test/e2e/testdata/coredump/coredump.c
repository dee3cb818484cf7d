// Core dumps: each case forks a child that dies of a core-dumping signal
// with what the case sets (RLIMIT_CORE, PR_SET_DUMPABLE, coredump_filter,
// core_pattern, MADV_DONTDUMP, threads), and prints how it died and the
// core files that appeared in the cwd (renamed after the case). The Go
// test reads the cores with readelf, debug/elf and gdb.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_file(const char *path, const char *s) {
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		printf("write %s: %m\n", path);
		exit(1);
	}
	close(fd);
}

static void set_core_limit(rlim_t n) {
	struct rlimit r = {n, RLIM_INFINITY};
	if (setrlimit(RLIMIT_CORE, &r)) {
		perror("setrlimit");
		exit(1);
	}
}

static void *spin(void *arg) {
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

// crash_here faults on purpose: the backtrace gdb reads names it.
__attribute__((noinline)) static void crash_here(int how) {
	if (how == SIGSEGV)
		*(volatile int *)8 = 1;
	raise(how);
}

// markers puts a marker in private anonymous memory (kept) and one in a
// MADV_DONTDUMP mapping (left out of the core).
static void markers(void) {
	char *a = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *d = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	// Made at run time: the program's own text does not hold them.
	sprintf(a + 100, "MARKER-ANON-PRIVATE-%d", 7301);
	sprintf(d + 100, "MARKER-DONTDUMP-%d", 9131);
	sprintf(s + 100, "MARKER-ANON-SHARED-%d", 4721);
	if (madvise(d, 8192, MADV_DONTDUMP)) {
		perror("madvise");
		exit(1);
	}
}

// reset_and_return makes the fault that follows its return take the
// default action: the crash handlers' pattern.
static void reset_and_return(int sig) { signal(sig, SIG_DFL); }

struct kase {
	const char *name;
	rlim_t limit;
	int dumpable;  // PR_SET_DUMPABLE value
	const char *filter;  // coredump_filter to write, or NULL
	int threads;
	int sig;
	int handler;  // a handler that restores SIG_DFL first
};

static void list_cores(const char *name) {
	DIR *dir = opendir(".");
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, "core", 4) != 0)
			continue;
		struct stat st;
		stat(e->d_name, &st);
		char to[256];
		snprintf(to, sizeof to, "out.%s.%s", name, e->d_name);
		printf("  file %s mode %o\n", e->d_name, st.st_mode & 07777);
		rename(e->d_name, to);
	}
	closedir(dir);
}

static void run(struct kase k) {
	pid_t pid = fork();
	if (pid == 0) {
		set_core_limit(k.limit);
		if (k.dumpable >= 0)
			prctl(PR_SET_DUMPABLE, k.dumpable);
		if (k.filter)
			write_file("/proc/self/coredump_filter", k.filter);
		markers();
		for (int i = 0; i < k.threads; i++) {
			pthread_t th;
			pthread_create(&th, NULL, spin, NULL);
		}
		if (k.threads)
			usleep(100000);
		if (k.handler)
			signal(k.sig, reset_and_return);
		crash_here(k.sig);
		_exit(99);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("%s: pid %d signal %d core %d\n", k.name, pid, WIFSIGNALED(st) ? WTERMSIG(st) : -1,
	       WIFSIGNALED(st) ? !!WCOREDUMP(st) : -1);
	list_cores(k.name);
}

// With "native", the cases that write /proc/sys (the host's, natively)
// are left out.
int main(int argc, char **argv) {
	int native = argc > 1 && strcmp(argv[1], "native") == 0;
	setvbuf(stdout, NULL, _IONBF, 0);
	umask(022);
	run((struct kase){"default", RLIM_INFINITY, -1, NULL, 0, SIGABRT});
	run((struct kase){"nolimit", 0, -1, NULL, 0, SIGABRT});
	run((struct kase){"notdumpable", RLIM_INFINITY, 0, NULL, 0, SIGSEGV});
	run((struct kase){"tiny", 1000, -1, NULL, 0, SIGSEGV});
	run((struct kase){"cut", 12288, -1, NULL, 0, SIGSEGV});
	run((struct kase){"filter0", RLIM_INFINITY, -1, "0", 0, SIGQUIT});
	run((struct kase){"threads", RLIM_INFINITY, -1, NULL, 2, SIGSEGV});
	run((struct kase){"handler", RLIM_INFINITY, -1, NULL, 0, SIGSEGV, 1});
	if (native)
		return 0;
	write_file("/proc/sys/kernel/core_pattern", "core.%p.%e.%s.%%\n");
	char buf[200] = {0};
	int fd = open("/proc/sys/kernel/core_pattern", O_RDONLY);
	read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("pattern %s", buf);
	run((struct kase){"pattern", RLIM_INFINITY, -1, NULL, 0, SIGSEGV});
	write_file("/proc/sys/kernel/core_pattern", "|/bin/false");
	run((struct kase){"pipe", RLIM_INFINITY, -1, NULL, 0, SIGSEGV});
	write_file("/proc/sys/kernel/core_pattern", "core");
	write_file("/proc/sys/kernel/core_uses_pid", "1");
	run((struct kase){"usespid", RLIM_INFINITY, -1, NULL, 0, SIGSEGV});
	write_file("/proc/sys/kernel/core_uses_pid", "0");
	// At most 127 bytes are kept (CORENAME_MAX_SIZE).
	char long_pattern[201];
	memset(long_pattern, 'x', 200);
	long_pattern[200] = 0;
	write_file("/proc/sys/kernel/core_pattern", long_pattern);
	fd = open("/proc/sys/kernel/core_pattern", O_RDONLY);
	memset(buf, 0, sizeof buf);
	printf("long pattern read %zd\n", read(fd, buf, sizeof buf - 1));
	close(fd);
	write_file("/proc/sys/kernel/core_pattern", "core");
	return 0;
}
