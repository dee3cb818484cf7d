// drop_caches: root may write 1 to 4 to /proc/sys/vm/drop_caches (4
// drops nothing), anything else is EINVAL; the file is write-only
// (mode 0200, EACCES to read even for root). LTP's hugepage setup writes
// it first (futex_wake04); it was read-only.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *s) {
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0) {
		printf("open for %s: %s\n", s, strerror(errno));
		return;
	}
	ssize_t n = write(fd, s, strlen(s));
	printf("write %s: %zd %s\n", s, n, n < 0 ? strerror(errno) : "");
	close(fd);
}

int main(void) {
	struct stat st;
	if (stat("/proc/sys/vm/drop_caches", &st) == 0)
		printf("mode %o\n", st.st_mode);
	put("4");
	put("0");
	put("x");
	int fd = open("/proc/sys/vm/drop_caches", O_RDONLY);
	printf("open for reading: %d %s\n", fd < 0 ? -1 : 0, fd < 0 ? strerror(errno) : "");
	return 0;
}
