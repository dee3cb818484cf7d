// leased_copy: sendfile and copy_file_range from a file read whole (so
// that the client's read cache holds it) into a file just created and
// written (so that writes to it may be written behind): counts, both
// offsets, errors (same file overlapping, O_APPEND, read-only out,
// RLIMIT_FSIZE), and what fstat, a read and a child see right after.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static int leased(const char *p) {
	char b[8192];
	int fd = open(p, O_RDONLY);
	while (read(fd, b, sizeof b) > 0)
		;
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static void dump(const char *what, const char *p) {
	char b[256];
	int fd = open(p, O_RDONLY);
	long n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n < 0)
		n = 0;
	b[n] = 0;
	struct stat st;
	stat(p, &st);
	printf("%s: size %ld [%s]\n", what, (long)st.st_size, b);
}

int main(void) {
	signal(SIGXFSZ, SIG_IGN);
	int fd = open("src", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "0123456789abcdefghij", 20) != 20 || close(fd)) {
		perror("setup");
		return 1;
	}
	int in = leased("src");
	int out = open("dst", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	show("write dst", write(out, "XY", 2));
	show("sendfile 5", sendfile(out, in, NULL, 5));
	show("in offset", lseek(in, 0, SEEK_CUR));
	show("out offset", lseek(out, 0, SEEK_CUR));
	off_t o = 15;
	show("sendfile at 15 count 10", sendfile(out, in, &o, 10));
	printf("o: %ld\n", (long)o);
	show("in offset", lseek(in, 0, SEEK_CUR));
	struct stat st;
	fstat(out, &st);
	printf("fstat out: size %ld\n", (long)st.st_size);
	dump("dst", "dst");
	loff_t oi = 2, oo = 100;
	show("copy_file_range 2->100", copy_file_range(in, &oi, out, &oo, 3, 0));
	printf("oi %ld oo %ld\n", (long)oi, (long)oo);
	show("out offset", lseek(out, 0, SEEK_CUR));
	fstat(out, &st);
	printf("fstat out: size %ld\n", (long)st.st_size);
	show("copy_file_range at end", copy_file_range(in, NULL, out, NULL, 5, 0));
	pid_t pid = fork();
	if (pid == 0) {
		dump("child sees dst", "dst");
		_exit(0);
	}
	waitpid(pid, NULL, 0);

	// The same file through two descriptions, overlapping.
	int same = open("src", O_WRONLY);
	oi = 0, oo = 5;
	show("copy_file_range same file overlapping", copy_file_range(in, &oi, same, &oo, 10, 0));
	oi = 0, oo = 10;
	show("copy_file_range same file apart", copy_file_range(in, &oi, same, &oo, 5, 0));
	close(same);
	close(in);
	in = leased("src");
	dump("src", "src");
	int app = open("dst", O_WRONLY | O_APPEND);
	show("sendfile to O_APPEND", sendfile(app, in, NULL, 3));
	show("copy_file_range to O_APPEND", copy_file_range(in, NULL, app, NULL, 3, 0));
	close(app);
	int ro = open("dst", O_RDONLY);
	show("sendfile to read-only", sendfile(ro, in, NULL, 3));
	close(ro);
	show("sendfile from write-only", sendfile(in, out, NULL, 3));
	// In a child: the limit holds for the output's file too.
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = {110, 110};
		setrlimit(RLIMIT_FSIZE, &rl);
		lseek(out, 105, SEEK_SET);
		long across = sendfile(out, in, NULL, 10);
		long beyond = sendfile(out, in, NULL, 10);
		_exit((across & 0x3f) | (beyond < 0 && errno == EFBIG ? 0x40 : 0));
	}
	int status;
	waitpid(pid, &status, 0);
	printf("sendfile across RLIMIT_FSIZE: %d, beyond: %s\n", WEXITSTATUS(status) & 0x3f,
	       WEXITSTATUS(status) & 0x40 ? "EFBIG" : "not EFBIG");
	show("close out", close(out));
	dump("dst", "dst");
	return 0;
}
