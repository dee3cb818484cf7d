// proctask: the per-process files gdb, ps, pmap and setarch users read
// (/proc/<pid>/auxv, personality, wchan, schedstat, smaps_rollup) and
// their task/<tid>/ twins, as far as they do not depend on the kernel:
// auxv's pairs against getauxval (and the values of the keys the exec
// fixes), a personality set before an exec as the new program sees it,
// a running thread's wchan, schedstat's shape, smaps_rollup's header and
// names (not KSM, which Linux 6.6 added), each file's mode, and the
// syscall file of a thread waiting in a pipe read (a call the sandbox
// forwards), of one in a sleep (one the client serves) and of one
// spinning ("running").
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

static size_t slurp(const char *path, char *buf, size_t size) {
	int fd = open(path, O_RDONLY);
	if (fd < 0) die(path);
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0) die(path);
		if (r == 0) break;
		n += r;
	}
	close(fd);
	buf[n] = 0;
	return n;
}

extern char _start[];

static void auxv(void) {
	static char buf[4096];
	size_t n = slurp("/proc/self/auxv", buf, sizeof buf);
	uint64_t *v = (uint64_t *)buf;
	size_t pairs = n / 16, bad = 0, i;
	// glibc's getauxval answers AT_HWCAP and AT_HWCAP2 from its own
	// view of the CPU.
	for (i = 0; i < pairs && v[2 * i] != AT_NULL; i++)
		if (v[2 * i] != AT_HWCAP && v[2 * i] != AT_HWCAP2 && getauxval(v[2 * i]) != v[2 * i + 1]) {
			printf("auxv key %lu: %lu, getauxval %lu\n", (unsigned long)v[2 * i], (unsigned long)v[2 * i + 1],
			       getauxval(v[2 * i]));
			bad++;
		}
	printf("auxv: whole pairs %s, ends with AT_NULL %s, as getauxval %s\n", n % 16 ? "no" : "yes",
	       i + 1 == pairs && v[2 * i + 1] == 0 ? "yes" : "no", bad ? "no" : "yes");
	const struct {
		const char *name;
		unsigned long key;
	} keys[] = {{"AT_SYSINFO_EHDR", AT_SYSINFO_EHDR}, {"AT_PHDR", AT_PHDR}, {"AT_BASE", AT_BASE},
		    {"AT_RANDOM", AT_RANDOM}, {"AT_EXECFN", AT_EXECFN}, {"AT_HWCAP2", AT_HWCAP2}};
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		int found = 0;
		for (i = 0; i < pairs; i++)
			if (v[2 * i] == keys[k].key) found = 1;
		printf("%s %s\n", keys[k].name, found ? "present" : "absent");
	}
	Elf64_Ehdr *eh = (Elf64_Ehdr *)(getauxval(AT_PHDR) - sizeof *eh);
	printf("AT_PAGESZ %lu AT_PHENT %lu AT_PHNUM as the ELF header %s AT_ENTRY _start %s AT_CLKTCK %lu\n",
	       getauxval(AT_PAGESZ), getauxval(AT_PHENT), getauxval(AT_PHNUM) == eh->e_phnum ? "yes" : "no",
	       getauxval(AT_ENTRY) == (unsigned long)_start ? "yes" : "no", getauxval(AT_CLKTCK));
	printf("AT_UID %lu AT_EUID %lu AT_GID %lu AT_EGID %lu AT_SECURE %lu\n", getauxval(AT_UID),
	       getauxval(AT_EUID), getauxval(AT_GID), getauxval(AT_EGID), getauxval(AT_SECURE));
}

static void rollup(void) {
	static char buf[8192];
	slurp("/proc/self/smaps_rollup", buf, sizeof buf);
	char *save, *line = strtok_r(buf, "\n", &save);
	char perm[8], off[16], dev[16], ino[16], tag[16];
	if (!line || sscanf(line, "%*s %7s %15s %15s %15s %15s", perm, off, dev, ino, tag) != 5) die("rollup header");
	printf("smaps_rollup: %s %s %s %s %s\n", perm, off, dev, ino, tag);
	while ((line = strtok_r(NULL, "\n", &save))) {
		char name[64];
		unsigned long kb;
		if (sscanf(line, "%63s %lu kB", name, &kb) != 2) {
			printf("bad line: %s\n", line);
			continue;
		}
		if (!strcmp(name, "KSM:")) continue;
		if (!strcmp(name, "Rss:")) printf("Rss: %s\n", kb > 0 ? "some" : "none");
		else printf("%s\n", name);
	}
}

static int pipefd[2];
static char readbuf[16];
static volatile pid_t readerTid, sleeperTid, spinnerTid;
static volatile int stop;

static void *reader(void *arg) {
	readerTid = gettid();
	if (read(pipefd[0], readbuf, 7) != 1) die("read");
	return NULL;
}

static void *sleeper(void *arg) {
	sleeperTid = gettid();
	struct timespec ts = {1, 0};
	nanosleep(&ts, NULL);
	return NULL;
}

static void *spinner(void *arg) {
	spinnerTid = gettid();
	while (!stop) {
	}
	return NULL;
}

// syscallOf polls thread tid's syscall file until it shows system call
// nr (2 s at most) and returns its fields.
static int syscallOf(pid_t tid, long nr, unsigned long long f[9]) {
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
	for (int i = 0; i < 200; i++) {
		slurp(path, buf, sizeof buf);
		long n;
		int got = sscanf(buf, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &n, &f[1], &f[2], &f[3], &f[4], &f[5],
				 &f[6], &f[7], &f[8]);
		if (got == 9 && n == nr) return 1;
		usleep(10000);
	}
	return 0;
}

static void syscalls(void) {
	pthread_t r, s, sp;
	if (pipe(pipefd) != 0) die("pipe");
	if (pthread_create(&r, NULL, reader, NULL) || pthread_create(&s, NULL, sleeper, NULL) ||
	    pthread_create(&sp, NULL, spinner, NULL))
		die("pthread_create");
	while (!readerTid || !sleeperTid || !spinnerTid) usleep(1000);
	unsigned long long f[9];
	if (syscallOf(readerTid, SYS_read, f))
		printf("reader: read fd %s buf %s count %llu sp %s pc %s\n", f[1] == (unsigned)pipefd[0] ? "ok" : "wrong",
		       f[2] == (unsigned long)readbuf ? "ok" : "wrong", f[3], f[7] ? "set" : "0", f[8] ? "set" : "0");
	else
		printf("reader: not seen in read\n");
	if (syscallOf(sleeperTid, SYS_clock_nanosleep, f))
		printf("sleeper: clock_nanosleep clock %llu flags %llu\n", f[1], f[2]);
	else
		printf("sleeper: not seen in clock_nanosleep\n");
	char path[64], buf[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", spinnerTid);
	slurp(path, buf, sizeof buf);
	printf("spinner: %s", buf);
	stop = 1;
	if (write(pipefd[1], "x", 1) != 1) die("write");
	pthread_join(r, NULL);
	pthread_join(s, NULL);
	pthread_join(sp, NULL);
}

int main(int argc, char **argv) {
	char buf[256], path[64];
	if (argc > 1 && !strcmp(argv[1], "child")) {
		slurp("/proc/self/personality", buf, sizeof buf);
		printf("after exec: personality %s", buf);
		return 0;
	}
	auxv();
	slurp("/proc/self/personality", buf, sizeof buf);
	printf("personality %s", buf);
	slurp("/proc/self/wchan", buf, sizeof buf);
	printf("wchan \"%s\"\n", buf);
	unsigned long long run, wait, slices;
	slurp("/proc/self/schedstat", buf, sizeof buf);
	printf("schedstat fields %d\n", sscanf(buf, "%llu %llu %llu", &run, &wait, &slices));
	rollup();
	snprintf(path, sizeof path, "/proc/self/task/%d", getpid());
	const char *files[] = {"auxv", "personality", "wchan", "schedstat", "smaps_rollup", "syscall"};
	for (int i = 0; i < 6; i++) {
		char p[128];
		struct stat st;
		snprintf(p, sizeof p, "/proc/self/%s", files[i]);
		if (stat(p, &st) != 0) die(p);
		printf("%s %o", files[i], st.st_mode & 07777);
		snprintf(p, sizeof p, "%s/%s", path, files[i]);
		printf(", in task/: %s\n", access(p, R_OK) == 0 ? "readable" : "no");
	}
	syscalls();
	fflush(stdout);
	if (personality(ADDR_NO_RANDOMIZE) < 0) die("personality");
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "child", (char *)NULL);
		die("exec");
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || status != 0) die("child");
	return 0;
}
