// Reads the kernel configuration the way LTP's tst_kconfig does (zcat of
// /proc/config.gz) and probes each option it knows with a system call or
// a file: prints every option whose probe and configuration disagree and
// exits 1 if any does. "present" for a call means anything but ENOSYS.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/seccomp.h>

static int ok(int fd) {
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int not_enosys(long r) { return r >= 0 || errno != ENOSYS; }

static int exists(const char *path) { return access(path, F_OK) == 0; }

// unshare_ok says whether a child can unshare flags.
static int unshare_ok(int flags) {
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(flags) == 0 ? 0 : 1);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int p_eventfd(void) { return ok(eventfd(0, 0)); }
static int p_epoll(void) { return ok(epoll_create1(0)); }
static int p_signalfd(void) {
	sigset_t m;
	sigemptyset(&m);
	return ok(signalfd(-1, &m, 0));
}
static int p_timerfd(void) { return ok(timerfd_create(CLOCK_MONOTONIC, 0)); }
static int p_inotify(void) { return ok(inotify_init1(0)); }
static int p_memfd(void) { return ok(memfd_create("kconfig", 0)); }
static int p_hugetlb(void) { return ok(memfd_create("kconfig", MFD_HUGETLB)); }
static int p_sysvipc(void) {
	int id = shmget(IPC_PRIVATE, 4096, 0600);
	if (id < 0)
		return 0;
	shmctl(id, IPC_RMID, NULL);
	return 1;
}
static int p_posix_timers(void) {
	timer_t t;
	if (timer_create(CLOCK_MONOTONIC, NULL, &t) != 0)
		return 0;
	timer_delete(t);
	return 1;
}
static int p_flock(void) {
	int fd = open(".", O_RDONLY | O_DIRECTORY);
	int r = fd >= 0 && flock(fd, LOCK_SH) == 0;
	if (fd >= 0)
		close(fd);
	return r;
}
static int p_futex(void) {
	int word = 0;
	return syscall(SYS_futex, &word, 1 /* FUTEX_WAKE */, 1, NULL, NULL, 0) == 0;
}
static int p_cma(void) {
	char src[4] = "abc", dst[4] = {0};
	struct iovec l = {dst, 4}, r = {src, 4};
	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 4 && strcmp(dst, "abc") == 0;
}
static int p_madvise(void) { return not_enosys(madvise(NULL, 0, MADV_NORMAL)); }
static int p_unix(void) { return ok(socket(AF_UNIX, SOCK_STREAM, 0)); }
static int p_inet(void) { return ok(socket(AF_INET, SOCK_STREAM, 0)); }
static int p_ipv6(void) { return ok(socket(AF_INET6, SOCK_STREAM, 0)); }
static int p_seccomp(void) { return prctl(PR_GET_SECCOMP) >= 0; }
static int p_seccomp_filter(void) {
	unsigned int action = SECCOMP_RET_KILL_PROCESS;
	return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}
static int p_tmpfs(void) {
	FILE *f = fopen("/proc/filesystems", "r");
	char line[256];
	int found = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strcmp(line, "nodev\ttmpfs\n") == 0)
			found = 1;
	fclose(f);
	return found;
}
static int p_proc_sysctl(void) { return exists("/proc/sys/kernel/ostype"); }
static int p_ptys(void) { return ok(open("/dev/ptmx", O_RDWR | O_NOCTTY)); }
static int p_modules(void) { return exists("/proc/modules"); }
static int p_cgroups(void) { return exists("/proc/cgroups"); }
static int p_swap(void) { return exists("/proc/swaps"); }
static int p_uts_ns(void) { return unshare_ok(CLONE_NEWUTS); }
static int p_ipc_ns(void) { return unshare_ok(CLONE_NEWIPC); }
static int p_user_ns(void) { return unshare_ok(CLONE_NEWUSER); }
static int p_pid_ns(void) { return unshare_ok(CLONE_NEWPID); }
static int p_net_ns(void) { return unshare_ok(CLONE_NEWNET); }
static int p_time_ns(void) { return unshare_ok(0x80 /* CLONE_NEWTIME */); }
static int p_aio(void) { return not_enosys(syscall(SYS_io_setup, 0, NULL)); }
static int p_io_uring(void) { return not_enosys(syscall(SYS_io_uring_setup, 0, NULL)); }
static int p_userfaultfd(void) { return not_enosys(syscall(SYS_userfaultfd, -1)); }
static int p_fhandle(void) { return not_enosys(syscall(SYS_name_to_handle_at, -1, NULL, NULL, NULL, 0)); }
static int p_rseq(void) { return not_enosys(syscall(SYS_rseq, NULL, 0, -1, 0)); }
static int p_fanotify(void) { return not_enosys(syscall(SYS_fanotify_init, -1, 0)); }
static int p_acct(void) { return not_enosys(syscall(SYS_acct, "")); }
static int p_numa(void) { return not_enosys(syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, -1)); }
static int p_dnotify(void) {
	int fd = open(".", O_RDONLY | O_DIRECTORY);
	int r = fd >= 0 && fcntl(fd, F_NOTIFY, DN_CREATE) == 0;
	if (fd >= 0)
		close(fd);
	return r;
}
// p_checkpoint_restore: the System V next ids and PR_SET_MM_MAP_SIZE
// (without the option, prctl_set_mm takes it for a one-field option:
// EPERM or EINVAL).
static int p_checkpoint_restore(void) {
	unsigned int size = 0;
	return exists("/proc/sys/kernel/msg_next_id") && exists("/proc/sys/kernel/sem_next_id") &&
	       exists("/proc/sys/kernel/shm_next_id") && prctl(35 /* PR_SET_MM */, 15 /* PR_SET_MM_MAP_SIZE */, &size, 0, 0) == 0 &&
	       size > 0;
}

static const struct {
	const char *name;
	int (*probe)(void);
} probes[] = {
	{"CONFIG_FUTEX", p_futex},
	{"CONFIG_POSIX_TIMERS", p_posix_timers},
	{"CONFIG_ADVISE_SYSCALLS", p_madvise},
	{"CONFIG_CROSS_MEMORY_ATTACH", p_cma},
	{"CONFIG_FILE_LOCKING", p_flock},
	{"CONFIG_EPOLL", p_epoll},
	{"CONFIG_SIGNALFD", p_signalfd},
	{"CONFIG_TIMERFD", p_timerfd},
	{"CONFIG_EVENTFD", p_eventfd},
	{"CONFIG_INOTIFY_USER", p_inotify},
	{"CONFIG_TMPFS", p_tmpfs},
	{"CONFIG_MEMFD_CREATE", p_memfd},
	{"CONFIG_SYSVIPC", p_sysvipc},
	{"CONFIG_PROC_SYSCTL", p_proc_sysctl},
	{"CONFIG_UNIX98_PTYS", p_ptys},
	{"CONFIG_UNIX", p_unix},
	{"CONFIG_INET", p_inet},
	{"CONFIG_IPV6", p_ipv6},
	{"CONFIG_SECCOMP", p_seccomp},
	{"CONFIG_SECCOMP_FILTER", p_seccomp_filter},
	{"CONFIG_MODULES", p_modules},
	{"CONFIG_CGROUPS", p_cgroups},
	{"CONFIG_UTS_NS", p_uts_ns},
	{"CONFIG_TIME_NS", p_time_ns},
	{"CONFIG_IPC_NS", p_ipc_ns},
	{"CONFIG_USER_NS", p_user_ns},
	{"CONFIG_PID_NS", p_pid_ns},
	{"CONFIG_NET_NS", p_net_ns},
	{"CONFIG_AIO", p_aio},
	{"CONFIG_IO_URING", p_io_uring},
	{"CONFIG_USERFAULTFD", p_userfaultfd},
	{"CONFIG_FHANDLE", p_fhandle},
	{"CONFIG_RSEQ", p_rseq},
	{"CONFIG_DNOTIFY", p_dnotify},
	{"CONFIG_FANOTIFY", p_fanotify},
	{"CONFIG_CHECKPOINT_RESTORE", p_checkpoint_restore},
	{"CONFIG_BSD_PROCESS_ACCT", p_acct},
	{"CONFIG_SWAP", p_swap},
	{"CONFIG_NUMA", p_numa},
	{"CONFIG_HUGETLBFS", p_hugetlb},
};

#define NPROBES (sizeof probes / sizeof probes[0])

int main(void) {
	// 1 set, 0 not set or absent.
	int set[NPROBES] = {0};
	char line[512];
	FILE *f = popen("zcat /proc/config.gz", "r");
	if (!f) {
		perror("popen");
		return 2;
	}
	int lines = 0;
	while (fgets(line, sizeof line, f)) {
		lines++;
		for (size_t i = 0; i < NPROBES; i++) {
			size_t n = strlen(probes[i].name);
			if (strncmp(line, probes[i].name, n) == 0 && (strcmp(line + n, "=y\n") == 0 || strcmp(line + n, "=m\n") == 0))
				set[i] = 1;
		}
	}
	if (pclose(f) != 0 || lines == 0) {
		fprintf(stderr, "zcat /proc/config.gz failed (%d lines)\n", lines);
		return 2;
	}
	int bad = 0;
	for (size_t i = 0; i < NPROBES; i++) {
		int have = probes[i].probe();
		if (have != set[i]) {
			printf("%s: config says %s, the probe finds it %s\n", probes[i].name, set[i] ? "y" : "not set", have ? "present" : "absent");
			bad = 1;
		}
	}
	printf("%zu options probed\n", NPROBES);
	return bad;
}
