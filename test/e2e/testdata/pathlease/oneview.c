// oneview: one process (and a thread and a child of it) asks about the
// same paths before and after changes that alter the answer without
// changing the path string: a chdir (relative paths start elsewhere), a
// chmod of a parent directory and a change of effective uid (the walk's
// permission checks), a write and a chmod of the file itself (its
// attributes), a chdir made by another thread, a rename made by a child.
// Each answer is printed, so that a run under do can be compared with a
// native one (run as root: the uid changes need it).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

// ask prints what lstat, stat, access (real ids), faccessat with
// AT_EACCESS (effective ids) and readlink say of path.
static void ask(const char *label, const char *path) {
	struct stat st;
	printf("%s %s:", label, path);
	if (lstat(path, &st) == 0)
		printf(" mode %o size %ld", st.st_mode, (long)st.st_size);
	else
		printf(" lstat %s", strerror(errno));
	if (stat(path, &st) == 0)
		printf(", stat mode %o", st.st_mode);
	else
		printf(", stat %s", strerror(errno));
	printf(", access R %s", access(path, R_OK) == 0 ? "yes" : strerror(errno));
	printf(", eaccess R %s", faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) == 0 ? "yes" : strerror(errno));
	char target[256];
	ssize_t k = readlink(path, target, sizeof target - 1);
	if (k >= 0) {
		target[k] = 0;
		printf(", -> %s", target);
	} else {
		printf(", readlink %s", strerror(errno));
	}
	printf("\n");
	fflush(stdout);
}

static void ask_all(const char *label) {
	ask(label, "f");
	ask(label, "d/f");
	ask(label, "d/l");
	ask(label, "/etc/hostname-none");
}

static void *chdir_thread(void *arg) {
	if (chdir((const char *)arg) != 0)
		die("chdir in thread");
	return NULL;
}

int main(void) {
	char top[4096];
	if (!getcwd(top, sizeof top))
		die("getcwd");
	if (mkdir("d", 0755) != 0 || mkdir("d/d", 0755) != 0)
		die("mkdir");
	int fd = open("d/f", O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		die("create d/f");
	close(fd);
	fd = open("f", O_CREAT | O_WRONLY, 0600);
	if (fd < 0)
		die("create f");
	close(fd);
	if (symlink("f", "d/l") != 0)
		die("symlink");

	ask_all("start");
	ask_all("again");

	// Relative paths start elsewhere after a chdir.
	if (chdir("d") != 0)
		die("chdir d");
	ask_all("in d");
	if (chdir(top) != 0)
		die("chdir back");
	ask_all("back");

	// Another uid: d/f is readable, f is not.
	if (setresuid(-1, 65534, -1) != 0)
		die("seteuid nobody");
	ask_all("euid nobody");
	if (setresuid(-1, 0, -1) != 0)
		die("seteuid root");
	// The parent directory closes: the walk to d/f is refused to nobody.
	if (chmod("d", 0700) != 0)
		die("chmod d");
	ask_all("root, d 0700");
	if (setresuid(-1, 65534, -1) != 0)
		die("seteuid nobody again");
	ask_all("euid nobody, d 0700");
	if (setresuid(-1, 0, -1) != 0)
		die("seteuid root again");
	if (chmod("d", 0755) != 0)
		die("chmod d back");

	// The file's own attributes: a write (posted by do) and a chmod.
	fd = open("d/f", O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, "0123456789", 10) != 10)
		die("write");
	ask_all("after write");
	close(fd);
	if (chmod("d/f", 0600) != 0)
		die("chmod d/f");
	ask_all("after chmod");

	// Another thread's chdir is the process's.
	pthread_t th;
	if (pthread_create(&th, NULL, chdir_thread, "d") != 0 || pthread_join(th, NULL) != 0)
		die("thread");
	ask_all("thread went to d");
	if (chdir(top) != 0)
		die("chdir back after thread");

	// A child's rename is seen by the parent once waited for.
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		ask_all("child");
		if (rename("d/f", "d/g") != 0)
			die("rename");
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || status != 0)
		die("waitpid");
	ask_all("after child's rename");
	ask("after child's rename", "d/g");
	printf("done\n");
	return 0;
}
