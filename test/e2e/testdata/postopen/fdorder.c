// fdorder ROUNDS: opens, dups, closes, a fork and failed opens mixed with
// read-only opens of the same files again and again (posted once the path
// cache holds their answers, the fd chosen by the client): prints every
// fd it gets, what it reads and stats through them, and which fds are
// open (with their close-on-exec flag) at the end of each round, to be
// compared with a native run. Run in a directory holding files a and b.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int xopen(const char *path, int flags) {
	int fd = open(path, flags);
	if (fd < 0)
		printf("open %s: %s\n", path, strerror(errno));
	return fd;
}

// show prints what fd reads from offset off (pread) and from its own
// offset (read), and its size.
static void show(const char *what, int fd) {
	char buf[64];
	struct stat st;
	if (fstat(fd, &st) != 0) {
		printf("%s fd %d: fstat: %s\n", what, fd, strerror(errno));
		return;
	}
	ssize_t n = read(fd, buf, 5);
	ssize_t p = pread(fd, buf + 8, 8, 2);
	printf("%s fd %d size %ld read %ld:%.*s pread %ld:%.*s at %ld\n", what, fd, (long)st.st_size, (long)n,
	       n > 0 ? (int)n : 0, buf, (long)p, p > 0 ? (int)p : 0, buf + 8, (long)lseek(fd, 0, SEEK_CUR));
}

// table prints the open fds below 64 and their FD_CLOEXEC flags.
static void table(int round) {
	printf("round %d fds:", round);
	for (int fd = 0; fd < 64; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0)
			printf(" %d%s", fd, fl & FD_CLOEXEC ? "c" : "");
	}
	printf("\n");
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 10;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	// Fds the caller left open (a test harness's) would shift ours.
	for (int fd = 3; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			close(fd);
	for (int r = 0; r < rounds; r++) {
		int a = xopen("a", O_RDONLY | O_CLOEXEC);
		int b = xopen("b", O_RDONLY);
		show("a", a);
		int d = dup(a);
		close(a);
		int a2 = xopen("a", O_RDONLY | O_CLOEXEC); // a's fd again
		show("a2", a2);
		show("dup of a", d);
		int high = dup2(b, 20 + r % 5);
		int b2 = xopen("b", O_RDONLY);
		int missing = open("missing", O_RDONLY);
		printf("missing %d %s\n", missing, missing < 0 ? strerror(errno) : "");
		int b3 = xopen("b", O_RDONLY | O_CLOEXEC);
		show("b3", b3);
		int dir = xopen(".", O_RDONLY | O_DIRECTORY);
		char dbuf[4096];
		long dn = syscall(SYS_getdents64, dir, dbuf, sizeof dbuf);
		printf("a=%d b=%d d=%d a2=%d high=%d b2=%d b3=%d dir=%d listed %s\n", a, b, d, a2, high, b2, b3, dir,
		       dn > 0 ? "some" : "none");
		if (r % 7 == 3) {
			// A child's table is its own copy: its opens take its lowest
			// free fds, and the parent's are untouched.
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0) {
				int c1 = xopen("a", O_RDONLY);
				close(b2);
				int c2 = xopen("b", O_RDONLY);
				show("child a", c1);
				printf("child c1=%d c2=%d\n", c1, c2);
				table(r);
				fflush(stdout);
				_exit(0);
			}
			waitpid(pid, NULL, 0);
		}
		close(b);
		close(b2);
		if (close(b2) == 0 || errno != EBADF)
			printf("second close of %d: %s\n", b2, strerror(errno));
		close(dir);
		int again = xopen("a", O_RDONLY);
		show("again", again);
		table(r);
		// Leave a's description open every third round, so that later
		// rounds' fds climb.
		if (r % 3 != 0)
			close(again);
		close(a2);
		close(d);
		close(b3);
		close(high);
	}
	table(rounds);
	return 0;
}
