// utimes_null: utimensat and futimesat with a NULL path name dirfd's
// file, except with AT_FDCWD, where Linux copies the NULL path in and
// fails with EFAULT (glibc's utimes(NULL, ...) calls utimensat so: LTP
// utimes01); utime and utimes of NULL are EFAULT too.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static void result(const char *what, long rc) { printf("%s: %s\n", what, rc == 0 ? "ok" : strerror(errno)); }

int main(void) {
	struct timeval tv[2] = {{1, 0}, {2, 0}};
	struct timespec ts[2] = {{1, 0}, {2, 0}};
	int fd = open("f", O_CREAT | O_WRONLY, 0644);
	if (fd < 0) {
		perror("create f");
		return 1;
	}
	const char *volatile none = NULL; // not known NULL to the compiler
	result("utimes(NULL)", utimes(none, tv));
	result("utime syscall NULL", syscall(SYS_utime, NULL, NULL));
	result("utimes syscall NULL", syscall(SYS_utimes, NULL, tv));
	result("utimensat(AT_FDCWD, NULL)", syscall(SYS_utimensat, AT_FDCWD, NULL, ts, 0));
	result("utimensat(AT_FDCWD, NULL, now)", syscall(SYS_utimensat, AT_FDCWD, NULL, NULL, 0));
	result("futimesat(AT_FDCWD, NULL)", syscall(SYS_futimesat, AT_FDCWD, NULL, tv));
	result("utimensat(fd, NULL)", syscall(SYS_utimensat, fd, NULL, ts, 0));
	result("futimesat(fd, NULL)", syscall(SYS_futimesat, fd, NULL, tv));
	result("utimensat(99, NULL)", syscall(SYS_utimensat, 99, NULL, ts, 0));
	result("futimens(fd)", futimens(fd, ts));
	struct stat st;
	if (fstat(fd, &st) == 0)
		printf("times %ld %ld\n", (long)st.st_atime, (long)st.st_mtime);
	return 0;
}
