// Write-behind and pipelined metadata calls, seen from the application:
// everything a later call (of the same process, of another process, or
// through a mapping) observes must be what Linux shows. Run natively and
// under do; the outputs are compared.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(int ok, const char *what) {
	if (!ok) {
		printf("FAIL %s: %s\n", what, strerror(errno));
		exit(1);
	}
}

static long fsize(const char *p) {
	struct stat st;
	check(stat(p, &st) == 0, "stat");
	return (long)st.st_size;
}

int main(void) {
	char buf[8192];
	int rc;

	// Writes, then reads through another description and the offset.
	int fd = open("a", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	check(fd >= 0, "open a");
	for (int i = 0; i < 100; i++) {
		char line[32];
		int n = snprintf(line, sizeof line, "line %d\n", i);
		check(write(fd, line, n) == n, "write");
	}
	printf("offset %ld size %ld\n", (long)lseek(fd, 0, SEEK_CUR), fsize("a"));
	int r = open("a", O_RDONLY);
	check(r >= 0, "open a for reading");
	ssize_t n = read(r, buf, sizeof buf);
	printf("read %zd bytes, last line %.8s", n, buf + n - 8);
	check(pwrite(fd, "LINE", 4, 0) == 4, "pwrite");
	check(pread(r, buf, 7, 0) == 7, "pread");
	printf("after pwrite: %.7s", buf);
	struct iovec iov[3] = {{"vec", 3}, {"", 0}, {"tor\n", 4}};
	check(writev(fd, iov, 3) == 7, "writev");
	check(pwritev(fd, iov, 3, 8) == 7, "pwritev");
	check(pread(r, buf, 16, 0) == 16, "pread after pwritev");
	printf("after pwritev: %.16s|\n", buf);
	struct stat st;
	check(fstat(fd, &st) == 0, "fstat");
	printf("fstat size %ld\n", (long)st.st_size);
	close(r);

	// A child reads what its parent wrote just before the fork.
	check(write(fd, "tail\n", 5) == 5, "write tail");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		printf("child sees size %ld\n", fsize("a"));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	// A process told through shared memory, not a system call, reads the
	// bytes written before: the server applies the calls in order.
	volatile int *flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	check(flag != MAP_FAILED, "mmap flag");
	int big = open("big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	check(big >= 0, "open big");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		while (!*flag)
			;
		printf("reader saw %ld bytes of big\n", fsize("big"));
		fflush(stdout);
		_exit(0);
	}
	static char chunk[1 << 20];
	memset(chunk, 'x', sizeof chunk);
	for (int i = 0; i < 4; i++)
		check(write(big, chunk, sizeof chunk) == sizeof chunk, "write big");
	*flag = 1;
	waitpid(pid, NULL, 0);
	check(close(big) == 0, "close big");

	// A shell's redirection: save stdout, put a file over it, write,
	// put it back; dups get the fds and flags Linux gives.
	fflush(stdout);
	int lowest10 = 10; // what the test's parent left open differs
	while (fcntl(lowest10, F_GETFD) != -1)
		lowest10++;
	int saved = fcntl(1, F_DUPFD_CLOEXEC, 10);
	int rf = open("redir", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	check(saved >= 10 && rf >= 0, "save stdout");
	check(dup2(rf, 1) == 1 && close(rf) == 0, "dup2 over stdout");
	check(write(1, "redirected\n", 11) == 11, "write redirected");
	check(dup2(saved, 1) == 1 && close(saved) == 0, "restore stdout");
	int d1 = dup(0), d2 = fcntl(0, F_DUPFD, 0), d3 = dup3(0, 40, O_CLOEXEC);
	printf("saved at the lowest free fd from 10: %d, dups %d %d %d cloexec %d %d %d\n", saved == lowest10, d1, d2, d3,
	       fcntl(d1, F_GETFD), fcntl(d2, F_GETFD),
	       fcntl(d3, F_GETFD));
	close(d1);
	printf("lowest free %d\n", dup(0));
	struct rlimit rl;
	check(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
	rc = dup2(0, rl.rlim_cur);
	printf("dup2 at the limit: %d %s\n", rc, strerror(errno));
	rc = fcntl(0, F_DUPFD, rl.rlim_cur);
	printf("F_DUPFD at the limit: %d %s\n", rc, strerror(errno));
	rc = dup2(99, 5);
	printf("dup2 of a closed fd: %d %s\n", rc, strerror(errno));
	check(pread(open("redir", O_RDONLY), buf, 11, 0) == 11, "read redir");
	printf("redir holds %.11s", buf);

	// Appends through two descriptions and a child's: each lands at the
	// end as the calls were made.
	int a1 = open("log", O_WRONLY | O_CREAT | O_APPEND, 0644);
	int a2 = open("log", O_WRONLY | O_APPEND);
	check(a1 >= 0 && a2 >= 0, "open log");
	for (int i = 0; i < 20; i++) {
		char line[32];
		int k = snprintf(line, sizeof line, "%s %d\n", i % 2 ? "odd" : "even", i);
		check(write(i % 2 ? a2 : a1, line, k) == k, "append");
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		check(write(a1, "child\n", 6) == 6, "child append");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	check(write(a2, "parent\n", 7) == 7, "append after child");
	printf("append offsets %ld %ld size %ld\n", (long)lseek(a1, 0, SEEK_CUR), (long)lseek(a2, 0, SEEK_CUR), fsize("log"));
	int lr = open("log", O_RDONLY);
	n = read(lr, buf, sizeof buf);
	printf("log: %zd bytes, ends %.13s", n, buf + n - 13);
	close(lr);
	close(a1);
	close(a2);

	// A file this process maps: its pages follow a write at once.
	int m = open("m", O_RDWR | O_CREAT | O_TRUNC, 0644);
	check(m >= 0 && ftruncate(m, 4096) == 0, "open m");
	char *map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, m, 0);
	check(map != MAP_FAILED, "mmap m");
	check(pwrite(m, "mapped", 6, 100) == 6, "pwrite m");
	printf("mapping shows %.6s\n", map + 100);
	check(fsync(m) == 0 && close(m) == 0, "fsync, close m");
	check(fsync(fd) == 0 && fdatasync(fd) == 0 && close(fd) == 0, "fsync, fdatasync, close a");
	rc = close(fd);
	printf("close again: %d %s\n", rc, strerror(errno));

	// umask, then what it makes.
	printf("umask %03o\n", umask(027));
	printf("umask %03o\n", umask(027));
	int u = open("u", O_WRONLY | O_CREAT | O_EXCL, 0666);
	check(u >= 0, "open u");
	check(fstat(u, &st) == 0, "fstat u");
	printf("u mode %o\n", st.st_mode & 07777);

	// Metadata of created files, as tar sets them.
	check(mkdir("d", 0700) == 0, "mkdir d");
	check(chmod("d", 0755) == 0, "chmod d");
	int f = open("d/f", O_WRONLY | O_CREAT | O_EXCL, 0600);
	check(f >= 0, "open d/f");
	check(write(f, "data\n", 5) == 5 && close(f) == 0, "write, close d/f");
	check(chown("d/f", getuid(), getgid()) == 0, "chown");
	check(chmod("d/f", 0640) == 0, "chmod");
	struct timespec ts[2] = {{1000000000, 5}, {1200000000, 7}};
	check(utimensat(AT_FDCWD, "d/f", ts, 0) == 0, "utimensat");
	check(fchmod(u, 0604) == 0, "fchmod");
	check(fchown(u, -1, getgid()) == 0, "fchown");
	struct timespec ts2[2] = {{UTIME_OMIT, UTIME_OMIT}, {1300000000, 0}};
	check(futimens(u, ts2) == 0, "futimens");
	close(u);
	check(stat("d/f", &st) == 0, "stat d/f");
	printf("d/f mode %o uid %d mtime %ld.%09ld atime %ld\n", st.st_mode & 07777, st.st_uid == getuid(),
	       (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long)st.st_atim.tv_sec);
	check(stat("u", &st) == 0, "stat u");
	printf("u mode %o mtime %ld\n", st.st_mode & 07777, (long)st.st_mtim.tv_sec);
	check(stat("d", &st) == 0, "stat d");
	printf("d mode %o\n", st.st_mode & 07777);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		printf("child umask %03o\n", umask(0));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	// A renamed directory: the old names are gone, so these wait and fail.
	check(rename("d", "e") == 0, "rename");
	rc = chmod("d/f", 0600);
	printf("chmod after rename: %d %s\n", rc, strerror(errno));
	rc = utimensat(AT_FDCWD, "e/f", (struct timespec[2]){{0, -1}, {0, 0}}, 0);
	printf("utimensat bad times: %d %s\n", rc, strerror(errno));
	return 0;
}
