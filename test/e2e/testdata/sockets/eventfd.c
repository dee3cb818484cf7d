// eventfd counter, EFD_SEMAPHORE, EFD_NONBLOCK, blocking read woken by a
// child's write, and poll readiness.
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

// TRY prints what an expression returned and, if it failed, errno.
#define TRY(what, expr)                                                   \
	do {                                                              \
		errno = 0;                                                \
		long r_ = (long)(expr);                                   \
		printf("%s: %ld errno %d\n", what, r_, r_ < 0 ? errno : 0); \
	} while (0)

static void rd(int fd) {
	uint64_t v = 0;
	ssize_t n = read(fd, &v, sizeof v);
	if (n < 0) printf("read: errno %d\n", errno);
	else printf("read %zd: %llu\n", n, (unsigned long long)v);
}

static void wr(int fd, uint64_t v) {
	ssize_t n = write(fd, &v, sizeof v);
	if (n < 0) printf("write %llu: errno %d\n", (unsigned long long)v, errno);
	else printf("write %llu: %zd\n", (unsigned long long)v, n);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = eventfd(5, EFD_NONBLOCK);
	wr(fd, 3);
	rd(fd);
	rd(fd);
	uint32_t small = 1;
	TRY("short read", read(fd, &small, 4));
	TRY("short write", write(fd, &small, 4));
	wr(fd, UINT64_MAX);
	wr(fd, UINT64_MAX - 1);
	wr(fd, 1);
	rd(fd);
	uint64_t big;
	TRY("pread", pread(fd, &big, 8, 0));
	close(fd);

	int sem = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	rd(sem);
	rd(sem);
	rd(sem);
	struct pollfd p = {.fd = sem, .events = POLLIN | POLLOUT};
	TRY("poll", poll(&p, 1, 0));
	printf("revents %#x\n", p.revents);
	close(sem);

	int blk = eventfd(0, 0);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100000);
		uint64_t v = 42;
		write(blk, &v, sizeof v);
		_exit(0);
	}
	rd(blk);
	waitpid(pid, NULL, 0);
	TRY("eventfd bad flags", eventfd(0, 0x4));
	return 0;
}
