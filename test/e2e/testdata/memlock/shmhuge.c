/* shmget with SHM_HUGETLB fails as the kernel's configuration says:
 * with hugetlbfs (listed in /proc/filesystems) and no huge pages
 * reserved, EPERM for a caller without CAP_IPC_LOCK and RLIMIT_MEMLOCK,
 * else ENOMEM; without hugetlbfs, EINVAL for everyone (LTP shmget02). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif

static int has_hugetlbfs(void) {
	char line[256];
	int found = 0;
	FILE *f = fopen("/proc/filesystems", "r");
	if (!f) {
		perror("/proc/filesystems");
		exit(1);
	}
	while (fgets(line, sizeof line, f))
		if (strstr(line, "\thugetlbfs"))
			found = 1;
	fclose(f);
	return found;
}

static int try_hugetlb(void) {
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | SHM_HUGETLB | 0600);
	if (id >= 0) {
		shmctl(id, IPC_RMID, NULL);
		return 0;
	}
	return errno;
}

static void check(const char *who, int got, int want_configured) {
	int want = has_hugetlbfs() ? want_configured : EINVAL;
	if (got == want)
		printf("%s: ok\n", who);
	else
		printf("%s: got %s, want %s\n", who, strerror(got), strerror(want));
}

int main(void) {
	struct rlimit rl = {0, 0};
	int status, got;
	pid_t pid;

	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
		perror("setrlimit");
		return 1;
	}
	/* Root (CAP_IPC_LOCK): ENOMEM where no huge pages are reserved; a
	 * machine that has some would take the segment. */
	got = try_hugetlb();
	if (got == 0)
		printf("root: ok\n");
	else
		check("root", got, ENOMEM);

	pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0) {
			perror("setuid");
			_exit(1);
		}
		check("nobody", try_hugetlb(), EPERM);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	/* The rest of shmget02's cases still hold. */
	got = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	printf("plain: %s\n", got >= 0 ? "ok" : strerror(errno));
	if (got >= 0)
		shmctl(got, IPC_RMID, NULL);
	return 0;
}
