// attr_runs: chown, chmod and utimensat of one file in a row, as tar
// restores a member (do may send such a run to the gofer as one change),
// in orders where each call's effect depends on the one before: a chown
// after a set-id chmod clears the set-id bits (setgid only with group
// execute; not of a directory), utimensat's UTIME_OMIT keeps what the
// call before set, a symlink's own owner and times, and, as an
// unprivileged owner, calls that fail (EPERM, EACCES) between ones that
// succeed. Each result and the final attributes are printed to compare
// with a native run (as root: the chowns need it), after each run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

// results holds the calls' results until show prints them: output
// between the calls would end the run.
static char results[4096];

static void result(const char *what, int rc) {
	size_t n = strlen(results);
	snprintf(results + n, sizeof results - n, "  %s: %s\n", what, rc == 0 ? "ok" : strerror(errno));
}

// show prints path's attributes; a time set by the program is printed,
// one the kernel took from its clock only as "now".
static void show(const char *path) {
	struct stat st;
	int rc = lstat(path, &st);
	printf("%s", results);
	results[0] = 0;
	if (rc != 0) {
		printf("  lstat %s: %s\n", path, strerror(errno));
		return;
	}
	printf("  %s: mode %o uid %d gid %d", path, st.st_mode, st.st_uid, st.st_gid);
	struct timespec times[2] = {st.st_atim, st.st_mtim};
	for (int i = 0; i < 2; i++) {
		if (times[i].tv_sec < 1000000)
			printf(" %s %ld.%09ld", i ? "mtime" : "atime", (long)times[i].tv_sec, times[i].tv_nsec);
		else
			printf(" %s now", i ? "mtime" : "atime");
	}
	printf("\n");
}

static void make(const char *path, mode_t mode) {
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, mode);
	if (fd < 0)
		die(path);
	close(fd);
}

static int set_times(const char *path, long a, long m, int flags) {
	struct timespec ts[2] = {{a, a % 1000}, {m, m % 1000}};
	if (a < 0)
		ts[0].tv_nsec = UTIME_OMIT;
	if (m < 0)
		ts[1].tv_nsec = UTIME_OMIT;
	return utimensat(AT_FDCWD, path, ts, flags);
}

int main(void) {
	puts("chown, chmod, utimensat (tar's order)");
	make("f1", 0600);
	result("chown", chown("f1", 12, 34));
	result("chmod 4755", chmod("f1", 04755));
	result("utimensat", set_times("f1", 100, 200, 0));
	show("f1");

	puts("set-id chmod, then chown");
	make("f2", 0600);
	result("chmod 6755", chmod("f2", 06755));
	result("chown", chown("f2", 5, 6));
	show("f2");

	puts("set-id chmod, then chown -1 -1");
	make("f3", 0600);
	result("chmod 6755", chmod("f3", 06755));
	result("chown -1 -1", chown("f3", -1, -1));
	show("f3");

	puts("setgid without group execute, then chown");
	make("f4", 0600);
	result("chmod 2744", chmod("f4", 02744));
	result("chown", chown("f4", 5, 6));
	show("f4");

	puts("utimensat, chmod, utimensat omitting mtime");
	make("f5", 0600);
	result("utimensat", set_times("f5", 300, 400, 0));
	result("chmod 644", chmod("f5", 0644));
	result("utimensat atime only", set_times("f5", 500, -1, 0));
	show("f5");

	puts("lchown and utimensat of a symlink, chmod of its target");
	make("f6", 0644);
	if (symlink("f6", "l6") != 0)
		die("symlink");
	result("lchown", lchown("l6", 9, 9));
	result("utimensat nofollow", set_times("l6", 600, 700, AT_SYMLINK_NOFOLLOW));
	result("chmod target", chmod("f6", 0600));
	show("l6");
	show("f6");

	puts("setgid directory, then chown");
	if (mkdir("d7", 0755) != 0)
		die("mkdir d7");
	result("chmod 2755", chmod("d7", 02755));
	result("chown", chown("d7", 3, 4));
	show("d7");

	puts("as its unprivileged owner");
	make("f8", 0644);
	if (chown("f8", 65534, 65534) != 0)
		die("chown f8");
	if (setresgid(-1, 65534, -1) != 0 || setresuid(-1, 65534, -1) != 0)
		die("ids");
	result("chmod 600", chmod("f8", 0600));
	result("chown to root", chown("f8", 0, 0));
	result("utimensat", set_times("f8", 800, 900, 0));
	result("chown to own group", chown("f8", -1, 65534));
	result("chmod 4755", chmod("f8", 04755));
	result("chown to group 0", chown("f8", -1, 0));
	show("f8");
	result("chmod 2755", chmod("f8", 02755));
	show("f8");

	puts("another's file, unprivileged");
	result("utimensat", set_times("f1", 800, 900, 0));
	result("utimensat now", utimensat(AT_FDCWD, "f1", NULL, 0));
	result("chmod", chmod("f1", 0777));
	result("chown", chown("f1", 65534, -1));
	show("f1");
	return 0;
}
