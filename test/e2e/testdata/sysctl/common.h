// Shared by the /proc/sys programs (included after their system headers:
// errno.h, fcntl.h, stdio.h, stdlib.h, string.h, unistd.h).

// show prints what = r, or -1 and errno's name when r is negative.
static void show(const char *what, long r) {
	if (r < 0)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

// readnum reads the number in file path (-1 if it cannot be opened).
static long readnum(const char *path) {
	char buf[32] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof buf - 1) < 0)
		buf[0] = 0;
	close(fd);
	return strtol(buf, NULL, 10);
}

// writestr writes s to file path: 0, or -1 with errno.
static int writestr(const char *path, const char *s) {
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	int r = write(fd, s, strlen(s)) < 0 ? -1 : 0;
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

// writeshow writes s to file path and shows the result as "write S".
static void writeshow(const char *path, const char *s) {
	char what[64];
	snprintf(what, sizeof what, "write %s", s);
	show(what, writestr(path, s));
}
