// names changer|observer DIR: two programs (two sandboxes on one server,
// or two host processes) take turns through DIR/turn, which holds the
// number of the next step (four digits, rewritten in place). At each step the observer first asks about
// the names of DIR/w without changing anything (stat, lstat, fstatat
// relative to an fd of DIR/w after listing it), so that a path cache
// keeps the answers, hands the turn to the changer, which creates,
// removes or renames a name in DIR/w, and once the turn is back makes
// the calls a path cache may answer itself (mkdir of a name it saw
// exist, unlink, stat, fstatat relative to the listed fd, stat of DIR/w,
// whose answer a creation in it brings) and prints what they returned. An answer the change should have revoked prints
// what it was before the change, which the native run does not.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *dir;

static void die(const char *what) {
	perror(what);
	exit(1);
}

static char *in(const char *name) {
	static char bufs[4][4096];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, 4096, "%s/w/%s", dir, name);
	return b;
}

static int turn_fd = -1;

// turn opens DIR/turn (which holds four digits) once.
static int turn(void) {
	if (turn_fd < 0) {
		char path[4096];
		snprintf(path, sizeof path, "%s/turn", dir);
		if ((turn_fd = open(path, O_RDWR)) < 0)
			die("open turn");
	}
	return turn_fd;
}

// wait_turn re-reads DIR/turn until it holds step (at most 60 s).
static void wait_turn(int step) {
	time_t end = time(NULL) + 60;
	for (;;) {
		char buf[8] = {0};
		if (pread(turn(), buf, 4, 0) == 4 && atoi(buf) == step)
			return;
		if (time(NULL) > end) {
			printf("timeout waiting for turn %d\n", step);
			exit(1);
		}
		usleep(500);
	}
}

static void give_turn(int step) {
	char s[8];
	snprintf(s, sizeof s, "%04d", step);
	if (pwrite(turn(), s, 4, 0) != 4)
		die("write turn");
}

static const char *names[] = {"d", "x", "e", "l"};
#define NNAMES 4

static const char *kind(mode_t m) {
	switch (m & S_IFMT) {
	case S_IFDIR:
		return "dir";
	case S_IFREG:
		return "file";
	case S_IFLNK:
		return "symlink";
	}
	return "other";
}

static void show(const char *what, const char *name, int rc, struct stat *st) {
	if (rc != 0)
		printf("  %s %s: %s\n", what, name, strerror(errno));
	else
		printf("  %s %s: %s size %lld nlink %lu\n", what, name, kind(st->st_mode),
		       st->st_mode & S_IFMT ? (long long)(S_ISDIR(st->st_mode) ? 0 : st->st_size) : 0LL,
		       (unsigned long)st->st_nlink);
}

// list reads every entry of the directory fd (a path cache may keep
// their answers relative to fd).
static void list(int fd) {
	char buf[4096];
	lseek(fd, 0, SEEK_SET);
	while (syscall(SYS_getdents64, fd, buf, sizeof buf) > 0) {
	}
}

// ask asks about every name without changing anything.
static void ask(int wfd, int print) {
	struct stat st;
	list(wfd);
	char w[4096];
	snprintf(w, sizeof w, "%s/w", dir);
	int wrc = stat(w, &st); // its link count moves with the directories made and removed in it
	if (print)
		show("stat", "w", wrc, &st);
	for (int i = 0; i < NNAMES; i++) {
		int rc = stat(in(names[i]), &st);
		if (print)
			show("stat", names[i], rc, &st);
		rc = lstat(in(names[i]), &st);
		if (print)
			show("lstat", names[i], rc, &st);
		rc = fstatat(wfd, names[i], &st, AT_SYMLINK_NOFOLLOW);
		if (print)
			show("fstatat", names[i], rc, &st);
	}
}

// change makes step's change of DIR/w (the changer).
static void change(int step) {
	int fd;
	switch (step) {
	case 0: // a name another client saw exist goes away
		if (rename(in("d"), in("e")) != 0)
			die("rename d e");
		break;
	case 1: // a name another client saw missing appears
		fd = open(in("x"), O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || write(fd, "12345", 5) != 5)
			die("create x");
		close(fd);
		break;
	case 2: // a directory is removed, a file renamed over another name
		if (rmdir(in("d")) != 0 && errno != ENOENT)
			die("rmdir d");
		if (rename(in("e"), in("d")) != 0)
			die("rename e d");
		break;
	case 3: // a symlink where a directory was
		if (rmdir(in("d")) != 0)
			die("rmdir d");
		if (symlink("x", in("d")) != 0)
			die("symlink d");
		break;
	case 4: // a file removed, a directory made in its place
		if (unlink(in("x")) != 0)
			die("unlink x");
		if (mkdir(in("x"), 0755) != 0)
			die("mkdir x");
		break;
	}
}

#define STEPS 5

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: names changer|observer DIR\n");
		return 2;
	}
	dir = argv[2];
	int observer = strcmp(argv[1], "observer") == 0;
	char w[4096];
	snprintf(w, sizeof w, "%s/w", dir);
	for (int step = 0; step < STEPS; step++) {
		if (!observer) {
			wait_turn(2 * step + 1);
			change(step);
			give_turn(2 * step + 2);
			continue;
		}
		int wfd = open(w, O_RDONLY | O_DIRECTORY);
		if (wfd < 0)
			die("open w");
		ask(wfd, 0);
		ask(wfd, 0); // answered from what the first kept, if anything
		give_turn(2 * step + 1);
		wait_turn(2 * step + 2);
		printf("step %d\n", step);
		// mkdir of a name seen existing, unlink of one seen missing:
		// what they say must be what the change left.
		int rc = mkdir(in("d"), 0755);
		printf("  mkdir d: %s\n", rc == 0 ? "made" : strerror(errno));
		if (rc == 0 && rmdir(in("d")) != 0)
			die("rmdir the d made");
		rc = unlink(in("x"));
		printf("  unlink x: %s\n", rc == 0 ? "removed" : strerror(errno));
		if (rc == 0) { // put it back as it was
			int fd = open(in("x"), O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0 || write(fd, "12345", 5) != 5)
				die("recreate x");
			close(fd);
		}
		ask(wfd, 1);
		close(wfd);
	}
	printf("%s: %d steps\n", argv[1], STEPS);
	return 0;
}
