// vdsoclock: the process has a vDSO (AT_SYSINFO_EHDR, [vdso] and [vvar]
// in /proc/self/maps), its clocks agree with the system calls' and
// never go back over interleaved reads, an absolute deadline (a
// clock_nanosleep, a futex wait) is never seen early through the vDSO
// afterwards, nor a relative sleep short, gettimeofday and time agree
// with CLOCK_REALTIME; a forked child and an exec'd image have it too.
// Prints what Linux prints; the differences are the failures.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t ns(struct timespec ts) { return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec; }

// vdso reads clk through libc, which calls the vDSO's clock_gettime.
static int64_t vdso(clockid_t clk) {
	struct timespec ts;
	if (clock_gettime(clk, &ts) != 0) {
		perror("clock_gettime");
		exit(1);
	}
	return ns(ts);
}

// sys reads clk with the system call.
static int64_t sys(clockid_t clk) {
	struct timespec ts;
	if (syscall(SYS_clock_gettime, clk, &ts) != 0) {
		perror("SYS_clock_gettime");
		exit(1);
	}
	return ns(ts);
}

static struct timespec ts_of(int64_t v) {
	struct timespec ts = {v / 1000000000, v % 1000000000};
	return ts;
}

// maps prints the permissions of [vvar] and [vdso] and checks that
// AT_SYSINFO_EHDR is [vdso]'s start, with [vvar] below it.
static void maps(const char *who) {
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
	printf("%s: AT_SYSINFO_EHDR %s\n", who, ehdr ? "set" : "missing");
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f) {
		perror("/proc/self/maps");
		exit(1);
	}
	char line[512];
	unsigned long vvar = 0, vdso_start = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long s, e;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) != 3) continue;
		if (strstr(line, "[vvar]\n")) {
			vvar = s;
			printf("%s: [vvar] %s\n", who, perms);
		} else if (strstr(line, "[vdso]\n")) {
			vdso_start = s;
			printf("%s: [vdso] %s\n", who, perms);
		}
	}
	fclose(f);
	printf("%s: AT_SYSINFO_EHDR is [vdso] %s, [vvar] below it %s\n", who,
	       ehdr && ehdr == vdso_start ? "yes" : "no", vvar && vvar < vdso_start ? "yes" : "no");
}

// interleave reads clk through the vDSO and the system call in turn: each
// read is at least the one before, and they agree.
static void interleave(const char *name, clockid_t clk, int n) {
	int64_t last = vdso(clk);
	int back = 0;
	for (int i = 0; i < n; i++) {
		int64_t a = sys(clk), b = vdso(clk);
		if (a < last || b < a) {
			if (back++ < 3) fprintf(stderr, "%s back: %lld, %lld, %lld\n", name, (long long)last, (long long)a, (long long)b);
		}
		last = b;
	}
	printf("%s: %d interleaved reads, backwards %d\n", name, n, back);
}

// deadlines sleeps to absolute deadlines on clk and reads the clock
// through the vDSO after each.
static void deadlines(const char *name, clockid_t clk, int n) {
	int early = 0;
	for (int i = 0; i < n; i++) {
		int64_t at = vdso(clk) + 50000 + (i % 7) * 130000;
		struct timespec ts = ts_of(at);
		int err;
		while ((err = clock_nanosleep(clk, TIMER_ABSTIME, &ts, NULL)) == EINTR) {
		}
		if (err) {
			fprintf(stderr, "clock_nanosleep: %s\n", strerror(err));
			exit(1);
		}
		int64_t now = vdso(clk);
		if (now < at && early++ < 3) fprintf(stderr, "%s woke %lld ns early\n", name, (long long)(at - now));
	}
	printf("%s: %d absolute sleeps, early %d\n", name, n, early);
}

// futexes waits on a futex nobody wakes until absolute deadlines
// (FUTEX_WAIT_BITSET, on CLOCK_MONOTONIC or CLOCK_REALTIME).
static void futexes(const char *name, clockid_t clk, int n) {
	static uint32_t word;
	int early = 0;
	for (int i = 0; i < n; i++) {
		int64_t at = vdso(clk) + 50000 + (i % 5) * 170000;
		struct timespec ts = ts_of(at);
		int op = FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | (clk == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
		long r;
		while ((r = syscall(SYS_futex, &word, op, 0, &ts, NULL, FUTEX_BITSET_MATCH_ANY)) != 0 && errno == EINTR) {
		}
		if (r == 0 || errno != ETIMEDOUT) {
			perror("futex");
			exit(1);
		}
		int64_t now = vdso(clk);
		if (now < at && early++ < 3) fprintf(stderr, "%s futex timed out %lld ns early\n", name, (long long)(at - now));
	}
	printf("%s: %d futex timeouts, early %d\n", name, n, early);
}

// relative sleeps nanosleep and checks the vDSO's monotonic clock moved
// at least as much.
static void relative(int n) {
	int short_ = 0;
	for (int i = 0; i < n; i++) {
		int64_t d = 30000 + (i % 9) * 110000;
		struct timespec ts = ts_of(d), rem;
		int64_t t0 = vdso(CLOCK_MONOTONIC);
		while (nanosleep(&ts, &rem) != 0 && errno == EINTR) ts = rem;
		int64_t t1 = vdso(CLOCK_MONOTONIC);
		if (t1 - t0 < d && short_++ < 3) fprintf(stderr, "nanosleep %lld ns short\n", (long long)(d - (t1 - t0)));
	}
	printf("nanosleep: %d relative sleeps, short %d\n", n, short_);
}

// walltime checks gettimeofday and time against CLOCK_REALTIME.
static void walltime(int n) {
	int bad = 0;
	for (int i = 0; i < n; i++) {
		int64_t r0 = vdso(CLOCK_REALTIME);
		struct timeval tv;
		gettimeofday(&tv, NULL);
		time_t t = time(NULL);
		int64_t r1 = vdso(CLOCK_REALTIME);
		int64_t g = (int64_t)tv.tv_sec * 1000000000 + tv.tv_usec * 1000;
		if (g < r0 / 1000 * 1000 || g > r1 || t < r0 / 1000000000 || t > r1 / 1000000000) {
			if (bad++ < 3) fprintf(stderr, "gettimeofday %lld time %lld not in [%lld, %lld]\n", (long long)g, (long long)t, (long long)r0, (long long)r1);
		}
	}
	printf("gettimeofday and time: %d reads, outside CLOCK_REALTIME %d\n", n, bad);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "exec")) {
		maps("exec");
		interleave("exec CLOCK_MONOTONIC", CLOCK_MONOTONIC, 2000);
		return 0;
	}
	maps("main");
	interleave("CLOCK_MONOTONIC", CLOCK_MONOTONIC, 20000);
	interleave("CLOCK_REALTIME", CLOCK_REALTIME, 20000);
	interleave("CLOCK_BOOTTIME", CLOCK_BOOTTIME, 2000);
	deadlines("CLOCK_MONOTONIC", CLOCK_MONOTONIC, 200);
	deadlines("CLOCK_REALTIME", CLOCK_REALTIME, 50);
	futexes("CLOCK_MONOTONIC", CLOCK_MONOTONIC, 100);
	futexes("CLOCK_REALTIME", CLOCK_REALTIME, 50);
	relative(100);
	walltime(2000);

	int64_t before = vdso(CLOCK_MONOTONIC);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		maps("child");
		int64_t c = vdso(CLOCK_MONOTONIC);
		printf("child: its clock after its parent's %s\n", c >= before ? "yes" : "no");
		interleave("child CLOCK_MONOTONIC", CLOCK_MONOTONIC, 2000);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	int64_t after = vdso(CLOCK_MONOTONIC);
	printf("parent: child exited %d, clock after the child's run %s\n", WEXITSTATUS(st), after >= before ? "yes" : "no");
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
		perror("exec");
		_exit(127);
	}
	waitpid(pid, &st, 0);
	printf("exec: exited %d\n", WEXITSTATUS(st));
	return 0;
}
