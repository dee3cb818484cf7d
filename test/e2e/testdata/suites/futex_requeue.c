// futex: EFAULT for an unmapped, PROT_NONE or truncated-file address,
// EINVAL/EAGAIN from FUTEX_CMP_REQUEUE's checks, and its return value
// (woken plus requeued) between processes sharing memory (LTP
// futex_wake05, futex_cmp_requeue01-03).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long futex(int *uaddr, int op, int val, long val2, int *uaddr2, int val3) {
	return syscall(SYS_futex, uaddr, op, val, val2, uaddr2, val3);
}

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: %ld\n", what, r);
}

static char state(pid_t pid) {
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

int main(int argc, char **argv) {
	if (argc != 2 || chdir(argv[1])) {
		perror("usage: futex_requeue DIR");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	long pg = sysconf(_SC_PAGESIZE);
	int *unmapped = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(unmapped, pg);
	int *none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
	ftruncate(fd, pg);
	int *trunc = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ftruncate(fd, 0);
	close(fd);
	show("wake unmapped", futex(unmapped, FUTEX_WAKE, 1, 0, NULL, 0));
	show("wake PROT_NONE", futex(none, FUTEX_WAKE, 1, 0, NULL, 0));
	show("wake truncated file", futex(trunc, FUTEX_WAKE, 1, 0, NULL, 0));
	show("wait unmapped", futex(unmapped, FUTEX_WAIT, 0, 0, NULL, 0));
	show("wait private unmapped", futex(unmapped, FUTEX_WAIT_PRIVATE, 0, 0, NULL, 0));
	show("wait private PROT_NONE", futex(none, FUTEX_WAIT_PRIVATE, 0, 0, NULL, 0));
	static int word;
	show("wait timeout unmapped", futex(&word, FUTEX_WAIT_PRIVATE, 0, (long)unmapped, NULL, 0));

	int *sh = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	show("cmp_requeue uaddr2 unmapped", futex(&sh[0], FUTEX_CMP_REQUEUE, 1, 1, unmapped, 0));
	show("cmp_requeue uaddr PROT_NONE", futex(none, FUTEX_CMP_REQUEUE, 1, 1, &sh[1], 0));
	show("cmp_requeue nr_requeue -1", futex(&sh[0], FUTEX_CMP_REQUEUE, 1, -1, &sh[1], 0));
	show("cmp_requeue nr_wake -1", futex(&sh[0], FUTEX_CMP_REQUEUE, -1, 1, &sh[1], 0));
	show("cmp_requeue value changed", futex(&sh[0], FUTEX_CMP_REQUEUE, 1, 1, &sh[1], 1));
	show("requeue nr_requeue -1", futex(&sh[0], FUTEX_REQUEUE, 1, -1, &sh[1], 0));

	static const struct {
		int waiters, wakes, requeues;
	} cases[] = {{10, 3, 7}, {10, 0, 10}, {10, 2, 6}, {6, 0, 3}, {5, 4, 4}};
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int n = cases[c].waiters;
		sh[0] = sh[1] = 0;
		pid_t pids[16];
		for (int i = 0; i < n; i++) {
			pids[i] = fork();
			if (pids[i] == 0) {
				long r = futex(&sh[0], FUTEX_WAIT, 0, 0, NULL, 0);
				_exit(r == 0 ? 0 : 1);
			}
		}
		for (int i = 0; i < n; i++)
			while (state(pids[i]) != 'S')
				usleep(10000);
		sh[0] = 1;
		long r = futex(&sh[0], FUTEX_CMP_REQUEUE, cases[c].wakes, cases[c].requeues, &sh[1], 1);
		long on1 = futex(&sh[1], FUTEX_WAKE, n, 0, NULL, 0);
		long on0 = futex(&sh[0], FUTEX_WAKE, n, 0, NULL, 0);
		int ok = 0;
		for (int i = 0; i < n; i++) {
			int st;
			waitpid(pids[i], &st, 0);
			ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
		printf("%d waiters, wake %d requeue %d: returned %ld, then woken on uaddr2 %ld, on uaddr %ld, %d woken normally\n",
		       n, cases[c].wakes, cases[c].requeues, r, on1, on0, ok);
	}
	return 0;
}
