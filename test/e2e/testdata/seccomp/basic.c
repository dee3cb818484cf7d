// seccomp(2) and prctl(PR_SET_SECCOMP) argument checks, the privilege
// rule, SECCOMP_GET_ACTION_AVAIL and SECCOMP_RET_ERRNO, printed for a
// comparison with a native run.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// status prints the line of /proc/self/status that starts with key.
static void status(const char *key) {
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL) {
		perror("/proc/self/status");
		return;
	}
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			printf("status %s", line);
	fclose(f);
}

static long sc(unsigned op, unsigned flags, void *arg) {
	long r = syscall(SYS_seccomp, op, flags, arg);
	return r < 0 ? -errno : r;
}

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define DENY(nr, ret) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, (ret))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("get_seccomp before: %d\n", prctl(PR_GET_SECCOMP));
	status("Seccomp:");
	static const unsigned actions[] = {SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP,
		SECCOMP_RET_ERRNO, SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW, 0x12340000};
	for (unsigned i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		unsigned a = actions[i];
		printf("action_avail %#x: %ld\n", a, sc(SECCOMP_GET_ACTION_AVAIL, 0, &a));
	}
	printf("action_avail bad pointer: %ld\n", sc(SECCOMP_GET_ACTION_AVAIL, 0, (void *)8));
	printf("unknown op: %ld\n", sc(99, 0, NULL));
	printf("strict with flags: %ld\n", sc(SECCOMP_SET_MODE_STRICT, 1, NULL));

	struct sock_filter allow[] = {ALLOW};
	struct sock_fprog empty = {0, allow};
	printf("empty filter: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, &empty));
	struct sock_filter bad[] = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), ALLOW};
	struct sock_fprog badp = {2, bad};
	printf("byte load: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, &badp));
	struct sock_filter far[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), ALLOW};
	struct sock_fprog farp = {2, far};
	printf("load past seccomp_data: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, &farp));
	struct sock_filter noret[] = {LOAD_NR};
	struct sock_fprog noretp = {1, noret};
	printf("no return: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, &noretp));
	printf("bad fprog pointer: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, (void *)8));
	struct sock_fprog badinsns = {1, (void *)8};
	printf("bad filter pointer: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, &badinsns));
	struct sock_fprog allowp = {1, allow};
	printf("unknown flag: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 1u << 20, &allowp));
	printf("prctl bad mode: %d/%d\n", prctl(PR_SET_SECCOMP, 7, 0, 0, 0), errno);

	// Without no_new_privs and without CAP_SYS_ADMIN: EACCES.
	pid_t pid = fork();
	if (pid == 0) {
		if (setresuid(65534, 65534, 65534) != 0) {
			perror("setresuid");
			_exit(2);
		}
		printf("unprivileged, no nnp: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, &allowp));
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		status("NoNewPrivs:");
		printf("unprivileged, nnp: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, &allowp));
		status("Seccomp:");
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("child status %#x\n", st);

	// ERRNO: mkdir gets EPERM, getppid returns 0 without running,
	// an errno above 4095 is capped, everything else runs.
	struct sock_filter deny[] = {
		LOAD_NR,
		DENY(SYS_mkdir, SECCOMP_RET_ERRNO | EPERM),
		DENY(SYS_getppid, SECCOMP_RET_ERRNO | 0),
		DENY(SYS_getpgid, SECCOMP_RET_ERRNO | 0xffff),
		DENY(SYS_getsid, SECCOMP_RET_TRACE),
		DENY(SYS_umask, SECCOMP_RET_LOG),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 99, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EROFS),
		ALLOW,
		ALLOW,
	};
	struct sock_fprog denyp = {sizeof(deny) / sizeof(deny[0]), deny};
	long r;
	printf("install as root: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, &denyp));
	printf("get_seccomp after: %d\n", prctl(PR_GET_SECCOMP));
	status("Seccomp:");
	errno = 0;
	r = mkdir("/tmp/seccomp-never", 0755);
	printf("mkdir: %ld errno %s\n", r, strerror(errno));
	struct stat sb;
	printf("made: %d\n", stat("/tmp/seccomp-never", &sb) == 0);
	errno = 0;
	printf("getppid: %ld\n", syscall(SYS_getppid));
	errno = 0;
	r = syscall(SYS_getpgid, 0);
	printf("getpgid: %ld errno %d\n", r, errno);
	errno = 0;
	r = syscall(SYS_getsid, 0);
	printf("getsid (trace, no tracer): %ld errno %s\n", r, strerror(errno));
	errno = 0;
	r = syscall(SYS_umask, 022);
	printf("umask (log): %ld errno %d\n", r, errno);
	errno = 0;
	r = write(99, "x", 1);
	printf("write fd 99: %ld errno %s\n", r, strerror(errno));
	r = write(98, "x", 1);
	printf("write fd 98: %ld errno %s\n", r, strerror(errno));
	// A second filter: the least permissive result of both wins.
	struct sock_filter second[] = {LOAD_NR, DENY(SYS_mkdir, SECCOMP_RET_ERRNO | EACCES), DENY(SYS_getuid, SECCOMP_RET_ERRNO | ENOENT), ALLOW};
	struct sock_fprog secondp = {sizeof(second) / sizeof(second[0]), second};
	printf("second filter: %ld\n", sc(SECCOMP_SET_MODE_FILTER, 0, &secondp));
	errno = 0;
	r = mkdir("/tmp/seccomp-never", 0755);
	printf("mkdir: %ld errno %s\n", r, strerror(errno));
	errno = 0;
	r = syscall(SYS_getuid);
	printf("getuid: %ld errno %s\n", r, strerror(errno));
	printf("strict after filter: %ld\n", sc(SECCOMP_SET_MODE_STRICT, 0, NULL));
	return 0;
}
