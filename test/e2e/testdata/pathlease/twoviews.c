// twoviews changer|observer DIR: two programs (two sandboxes on one
// server, or two host processes) step in lockstep through DIR/flag and
// DIR/ack, which exist. At each step the observer asks about a set of
// paths under DIR/w (so that their answers are kept), says it is ready
// (ack), the changer changes one of them (a chmod, a rename, a creation,
// an unlink, a symlink pointed elsewhere, a write, a mkdir, an rmdir) and
// says so (flag), and the observer asks again at once and prints what it
// saw, then lists DIR/w. Before the change it lists DIR/w first, so that
// the entries' answers the listing brings are among those asked again.
// A path cache answering from a copy the change did not revoke prints
// the old answer, which the native run does not.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *dir;

static void die(const char *what) {
	perror(what);
	exit(1);
}

static char *at(const char *name) {
	static char bufs[4][4096];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, 4096, "%s/%s", dir, name);
	return b;
}

static void put(int fd, int v) {
	char s[16];
	snprintf(s, sizeof s, "%04d", v);
	if (pwrite(fd, s, 4, 0) != 4)
		die("put");
}

// await re-reads fd until it holds v, for at most 60 s.
static void await(int fd, int v, const char *what) {
	char want[16], buf[16];
	snprintf(want, sizeof want, "%04d", v);
	time_t end = time(NULL) + 60;
	for (;;) {
		ssize_t n = pread(fd, buf, 4, 0);
		if (n == 4 && memcmp(buf, want, 4) == 0)
			return;
		if (time(NULL) > end) {
			printf("timeout waiting for %s %s\n", what, want);
			exit(1);
		}
		usleep(200);
	}
}

// The paths the observer asks about at every step.
static const char *paths[] = {"w/f", "w/g", "w/h", "w/l", "w/sub", "w/sub/x", "w/f/x"};

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// list prints the names in DIR/w, sorted (a listing whose reply brings
// the entries' lstat answers to the path cache).
static void list(int step, const char *when) {
	DIR *d = opendir(at("w"));
	if (!d)
		die("opendir");
	char *names[64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 64)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmp);
	printf("step %d %s listing:", step, when);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

// ask prints what stat, access(X_OK) and readlink say of each path.
static void ask(int step, const char *when) {
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct stat st;
		char line[512];
		int n = 0;
		if (lstat(at(paths[i]), &st) == 0)
			n += snprintf(line + n, sizeof line - n, "mode %o size %ld nlink %ld", st.st_mode,
				      (long)st.st_size, (long)st.st_nlink);
		else
			n += snprintf(line + n, sizeof line - n, "lstat: %s", strerror(errno));
		if (stat(at(paths[i]), &st) == 0)
			n += snprintf(line + n, sizeof line - n, "; stat mode %o", st.st_mode);
		else
			n += snprintf(line + n, sizeof line - n, "; stat: %s", strerror(errno));
		n += snprintf(line + n, sizeof line - n, "; X_OK %s",
			      access(at(paths[i]), X_OK) == 0 ? "yes" : strerror(errno));
		char target[256];
		ssize_t k = readlink(at(paths[i]), target, sizeof target - 1);
		if (k >= 0) {
			target[k] = 0;
			n += snprintf(line + n, sizeof line - n, "; -> %s", target);
		}
		printf("step %d %s %s: %s\n", step, when, paths[i], line);
	}
}

// change makes step's change; it returns 0 after the last step.
static int change(int step) {
	int fd;
	switch (step) {
	case 1:
		return chmod(at("w/f"), 0755) == 0 || (die("chmod"), 0);
	case 2:
		return rename(at("w/f"), at("w/g")) == 0 || (die("rename"), 0);
	case 3:
		fd = open(at("w/h"), O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			die("create");
		close(fd);
		return 1;
	case 4:
		return unlink(at("w/g")) == 0 || (die("unlink"), 0);
	case 5:
		if (unlink(at("w/l")) != 0 || symlink("h", at("w/l")) != 0)
			die("symlink");
		return 1;
	case 6:
		fd = open(at("w/h"), O_WRONLY | O_APPEND);
		if (fd < 0 || write(fd, "twelve bytes", 12) != 12)
			die("write");
		close(fd);
		return 1;
	case 7:
		return mkdir(at("w/sub"), 0700) == 0 || (die("mkdir"), 0);
	case 8:
		fd = open(at("w/sub/x"), O_CREAT | O_WRONLY, 0755);
		if (fd < 0)
			die("create sub/x");
		close(fd);
		return 1;
	case 9:
		return chmod(at("w/sub"), 0600) == 0 || (die("chmod sub"), 0);
	case 10:
		if (unlink(at("w/sub/x")) != 0 || rmdir(at("w/sub")) != 0)
			die("rmdir");
		return 1;
	case 11:
		return link(at("w/h"), at("w/f")) == 0 || (die("link"), 0);
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: twoviews changer|observer DIR\n");
		return 2;
	}
	dir = argv[2];
	int changer = strcmp(argv[1], "changer") == 0;
	int flag = open(at("flag"), changer ? O_WRONLY : O_RDONLY);
	int ack = open(at("ack"), changer ? O_RDONLY : O_WRONLY);
	if (flag < 0 || ack < 0)
		die("open flag/ack");
	int steps = 0;
	for (int step = 1;; step++) {
		if (changer) {
			await(ack, step, "ack");
			if (!change(step)) {
				put(flag, step);
				break;
			}
			steps++;
			put(flag, step);
		} else {
			list(step, "before");
			ask(step, "before");
			put(ack, step);
			await(flag, step, "flag");
			if (step > 11)
				break;
			ask(step, "after");
			list(step, "after");
			steps++;
		}
	}
	printf("%s: %d steps\n", argv[1], steps);
	return 0;
}
