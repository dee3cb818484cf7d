// dupmove: a directory opened relative to a listed dirfd, its fd dupped,
// listed through the first fd and that fd closed, as fts does, and the
// orders around it: a dup without close-on-exec, an F_SETFD of the
// first fd after the dup, a dup2 over an open fd, a dup closed before
// the first fd; and find's dup of a directory's fd closed at once, or
// after a later dup that took the lowest free fd. After each, what the kept fd names (its directory's
// entries from the start, whether its cursor was at the end) and, after
// an exec of itself, which fds survived.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char buf[32768];

// entries lists fd from its cursor to the end and returns how many
// entries it read.
static int entries(int fd) {
	int n = 0;
	for (;;) {
		long r = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (r < 0) {
			perror("getdents64");
			exit(1);
		}
		if (r == 0) {
			return n;
		}
		for (long off = 0; off < r; n++) {
			off += ((struct dirent64 *)(buf + off))->d_reclen;
		}
	}
}

// show prints what fd names: the entries left from its cursor (0 when
// the listing through the other fd left it at the end), then all of
// them from the start, and its close-on-exec flag.
static void show(const char *what, int fd) {
	int left = entries(fd);
	if (lseek(fd, 0, SEEK_SET) != 0) {
		perror("lseek");
		exit(1);
	}
	int all = entries(fd);
	printf("%s: left %d, all %d, cloexec %d\n", what, left, all, fcntl(fd, F_GETFD));
}

// opendir opens name relative to dfd as fts does and lists it whole
// through that fd after dupping it with dup (which returns the new fd).
static int open_listed(int dfd, const char *name, int *b, int (*dup)(int)) {
	int a = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (a < 0) {
		perror(name);
		exit(1);
	}
	struct stat st;
	fstat(a, &st);
	*b = dup(a);
	if (*b < 0) {
		perror("dup");
		exit(1);
	}
	entries(a);
	return a;
}

static int dup_cloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 3); }
static int dup_plain(int fd) { return fcntl(fd, F_DUPFD, 3); }
static int dup_setfd(int fd) {
	int b = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	fcntl(fd, F_SETFD, 0);
	return b;
}
static int spare = -1;
static int dup_over(int fd) { return dup3(fd, spare, O_CLOEXEC); }

int main(int argc, char **argv) {
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			char *eq = strchr(argv[i], '=');
			*eq = 0;
			int fd = atoi(eq + 1);
			struct stat st;
			printf("after exec %s: %s\n", argv[i], fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) ? "a directory" : "closed");
		}
		return 0;
	}
	const char *names[] = {"fts", "plain", "setfd", "over", "early", "later"};
	for (int i = 0; i < 6; i++) {
		char p[64];
		mkdir(names[i], 0755);
		for (int j = 0; j < 3 + i; j++) {
			snprintf(p, sizeof p, "%s/f%d", names[i], j);
			close(open(p, O_CREAT | O_WRONLY, 0644));
		}
	}
	int dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	entries(dfd); // the listing that answers the lstats below
	struct stat st;
	char args[6][32];
	int b;

	// fts's order: open a, dup to b, list a, close a.
	fstatat(dfd, "fts", &st, AT_SYMLINK_NOFOLLOW);
	close(open_listed(dfd, "fts", &b, dup_cloexec));
	show("fts", b);
	snprintf(args[0], sizeof args[0], "fts=%d", b);

	// A dup without close-on-exec of an O_CLOEXEC open.
	fstatat(dfd, "plain", &st, AT_SYMLINK_NOFOLLOW);
	close(open_listed(dfd, "plain", &b, dup_plain));
	show("plain", b);
	snprintf(args[1], sizeof args[1], "plain=%d", b);

	// The first fd's flag changed after the dup: b keeps its own.
	fstatat(dfd, "setfd", &st, AT_SYMLINK_NOFOLLOW);
	close(open_listed(dfd, "setfd", &b, dup_setfd));
	show("setfd", b);
	snprintf(args[2], sizeof args[2], "setfd=%d", b);

	// A dup over an open fd (a copy of dfd, which it closes).
	spare = dup(dfd);
	fstatat(dfd, "over", &st, AT_SYMLINK_NOFOLLOW);
	close(open_listed(dfd, "over", &b, dup_over));
	show("over", b);
	snprintf(args[3], sizeof args[3], "over=%d", b);

	// The dup closed first, then the first fd is kept.
	fstatat(dfd, "early", &st, AT_SYMLINK_NOFOLLOW);
	int a = open_listed(dfd, "early", &b, dup_cloexec);
	close(b);
	show("early", a);
	fcntl(a, F_SETFD, 0);
	snprintf(args[4], sizeof args[4], "early=%d", a);

	// find's order: a dup of the directory's fd closed at once (never
	// sent), then one closed after a later dup that took the lowest
	// free fd at or above 3 (which the first dup held) was posted.
	close(fcntl(dfd, F_DUPFD_CLOEXEC, 0));
	int d = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	fstatat(dfd, "later", &st, AT_SYMLINK_NOFOLLOW);
	a = openat(dfd, "later", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	b = fcntl(a, F_DUPFD_CLOEXEC, 3);
	entries(a);
	close(d);
	close(a);
	show("later", b);
	fcntl(b, F_SETFD, 0);
	snprintf(args[5], sizeof args[5], "later=%d", b);

	fflush(stdout);
	execl("/proc/self/exe", argv[0], args[0], args[1], args[2], args[3], args[4], args[5], (char *)NULL);
	perror("exec");
	return 1;
}
