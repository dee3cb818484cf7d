// robustlist: get_robust_list reads the robust-list head of the caller,
// or of another thread it may inspect (the same real user and group, or
// CAP_SYS_PTRACE: EPERM otherwise), ESRCH for no such thread, EFAULT for
// an unwritable answer. Prints what happened; run natively and sandboxed
// (as root).
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct robust_list_head mine;

static const char *get(pid_t pid, void **head, size_t *len) {
	long r = syscall(SYS_get_robust_list, pid, head, len);
	return r == 0 ? "ok" : strerror(errno);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	void *head = NULL;
	size_t len = 0;
	if (syscall(SYS_set_robust_list, &mine, sizeof mine) != 0) {
		perror("set_robust_list");
		return 1;
	}
	const char *r = get(0, &head, &len);
	printf("own: %s, head is ours %s, len %zu\n", r, head == &mine ? "yes" : "no", len);
	head = NULL;
	r = get(getpid(), &head, &len);
	printf("own by pid: %s, head is ours %s\n", r, head == &mine ? "yes" : "no");
	printf("no len: %s\n", get(0, &head, NULL));
	printf("no head: %s\n", get(0, NULL, &len));

	pid_t pid = fork();
	if (pid == 0) {
		// The child's head is its own copy's (glibc set it at start).
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("reaped child: %s\n", get(pid, &head, &len));

	pid_t parent = getpid();
	pid = fork();
	if (pid == 0) {
		printf("child reads its parent's: %s\n", get(parent, &head, &len));
		if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) {
			perror("setres*id");
			_exit(1);
		}
		printf("as another user: %s\n", get(parent, &head, &len));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	return 0;
}
