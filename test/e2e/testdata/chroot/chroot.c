// chroot(2) into a scratch directory (jail/ of the working directory)
// holding a few files and a copy of this static program: absolute paths,
// "..", and symbolic links with absolute targets resolve under the new
// root; getcwd of a cwd left outside says "(unreachable)"; /proc/<pid>/root
// and cwd as another process reads them; a fork child inherits the root,
// an exec finds its program under it, a clone with CLONE_FS shares it;
// attempts to climb out; and the errors in Linux's order (ENOENT,
// ENOTDIR, ENAMETOOLONG, ELOOP, EFAULT, EACCES before EPERM for a user
// without CAP_SYS_CHROOT). Every chroot happens in a child, so the native
// run leaves the test process alone. Paths under the working directory
// are printed relative to it ("<cwd>"). Output is compared with a native
// run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char realcwd[PATH_MAX];

// rel prints p with the working directory at its start as "<cwd>".
static const char *rel(const char *p) {
	static char buf[PATH_MAX + 32];
	size_t n = strlen(realcwd);
	const char *q = p;
	const char *pre = "";
	if (strncmp(q, "(unreachable)", 13) == 0) {
		pre = "(unreachable)";
		q += 13;
	}
	if (strncmp(q, realcwd, n) == 0 && (q[n] == 0 || q[n] == '/'))
		snprintf(buf, sizeof buf, "%s<cwd>%s", pre, q + n);
	else
		snprintf(buf, sizeof buf, "%s%s", pre, q);
	return buf;
}

static void cwd(const char *what) {
	char b[PATH_MAX];
	long r = syscall(SYS_getcwd, b, sizeof b);
	if (r < 0)
		printf("%s: getcwd: %s\n", what, strerror(errno));
	else
		printf("%s: getcwd %s\n", what, rel(b));
}

static void cat(const char *path) {
	char b[128];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("open %s: %s\n", path, strerror(errno));
		return;
	}
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	b[n < 0 ? 0 : n] = 0;
	printf("open %s: %s", path, b);
}

static void st(const char *path, ino_t jail) {
	struct stat s;
	if (stat(path, &s) < 0)
		printf("stat %s: %s\n", path, strerror(errno));
	else
		printf("stat %s: %s\n", path, s.st_ino == jail ? "the jail" : "not the jail");
}

static void try(const char *what, int r) {
	if (r < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: ok\n", what);
}

static void put(const char *path, const char *data) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, strlen(data)) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void copyself(const char *to) {
	int in = open("/proc/self/exe", O_RDONLY);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	char b[65536];
	ssize_t n;
	if (in < 0 || out < 0) {
		perror("copyself");
		exit(1);
	}
	while ((n = read(in, b, sizeof b)) > 0)
		if (write(out, b, n) != n) {
			perror("copyself write");
			exit(1);
		}
	close(in);
	close(out);
}

static void waitfor(const char *what, pid_t pid) {
	int status;
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		exit(1);
	}
	printf("%s: exit %d\n", what, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

// inner runs as the program exec'ed under the root.
static int inner(void) {
	cwd("inner");
	cat("/x");
	char b[64];
	ssize_t n = readlink("/abs", b, sizeof b - 1);
	b[n < 0 ? 0 : n] = 0;
	printf("inner: readlink /abs: %s\n", b);
	return 3;
}

static int cloned(void *arg) {
	(void)arg;
	return chroot("jail") < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 2 && strcmp(argv[1], "inner") == 0) {
		snprintf(realcwd, sizeof realcwd, "%s", argv[2]);
		return inner();
	}
	if (!getcwd(realcwd, sizeof realcwd)) {
		perror("getcwd");
		return 1;
	}
	// Another user must reach jail/ through the working directory.
	chmod(".", 0755);
	mkdir("jail", 0755);
	mkdir("jail/sub", 0755);
	mkdir("jail/noexec", 0600);
	put("x", "outside x\n");
	put("jail/x", "inside x\n");
	put("jail/file", "a file\n");
	symlink("/x", "jail/abs");
	symlink("../../../x", "jail/sub/up");
	symlink("/../../x", "jail/escape");
	symlink("loop2", "jail/loop1");
	symlink("loop1", "jail/loop2");
	copyself("jail/prog");
	copyself("jail/sub/prog");
	struct stat js;
	stat("jail", &js);
	ino_t jail = js.st_ino;
	// Answers the sandbox's client may keep under absolute paths: the
	// chrooted child's same paths name other files.
	mkdir("jail/etc", 0755);
	put("jail/etc/passwd", "the jail's passwd\n");
	put("jail/chroot-test-x", "inside chroot-test-x\n");
	for (int i = 0; i < 2; i++) {
		st("/chroot-test-x", jail);
		try("access /chroot-test-x", access("/chroot-test-x", F_OK));
		int fd = open("/etc/passwd", O_RDONLY);
		if (fd < 0)
			return 1;
		close(fd);
	}

	// A chrooted child, its links read by the parent.
	int go[2], done[2];
	if (pipe(go) < 0 || pipe(done) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		int out = open(".", O_RDONLY | O_DIRECTORY);
		try("chroot jail", chroot("jail"));
		cwd("after chroot");
		if (write(done[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		st("/chroot-test-x", jail);
		try("access /chroot-test-x", access("/chroot-test-x", F_OK));
		cat("/chroot-test-x");
		cat("/etc/passwd");
		st("/x", jail);
		cat("/x");
		cat("x");
		cat("/../x");
		cat("/sub/../../x");
		cat("/abs");
		cat("/sub/up");
		cat("/escape");
		st("/", jail);
		st("/..", jail);
		st("..", jail);
		try("chdir /sub", chdir("/sub"));
		cwd("in /sub");
		try("chdir ../..", chdir("../.."));
		cwd("up twice");
		st(".", jail);
		try("chroot /", chroot("/"));
		cat("/x");
		try("chroot sub", chroot("sub"));
		cwd("cwd above the new root");
		cat("/x");
		cat("/up");
		try("chdir /", chdir("/"));
		cwd("at the new root");
		try("chdir ..", chdir(".."));
		cwd("after ..");
		// Back out through an fd opened before the first chroot.
		try("fchdir outside", fchdir(out));
		cwd("fchdir outside");
		cat("x");
		char *argv2[] = {"prog", "inner", realcwd, NULL};
		execv("/prog", argv2);
		printf("execv /prog: %s\n", strerror(errno));
		_exit(1);
	}
	char c;
	if (read(done[0], &c, 1) != 1)
		return 1;
	char path[64], b[PATH_MAX];
	snprintf(path, sizeof path, "/proc/%d/root", pid);
	ssize_t n = readlink(path, b, sizeof b - 1);
	b[n < 0 ? 0 : n] = 0;
	printf("parent: readlink /proc/<child>/root: %s\n", rel(b));
	snprintf(path, sizeof path, "/proc/%d/cwd", pid);
	n = readlink(path, b, sizeof b - 1);
	b[n < 0 ? 0 : n] = 0;
	printf("parent: readlink /proc/<child>/cwd: %s\n", rel(b));
	n = readlink("/proc/self/root", b, sizeof b - 1);
	b[n < 0 ? 0 : n] = 0;
	printf("parent: readlink /proc/self/root: %s\n", b);
	if (write(go[1], "g", 1) != 1)
		return 1;
	waitfor("chrooted child", pid);
	st("/x", jail);
	st("/chroot-test-x", jail);

	// Fork and exec under the root; an exec of a path only outside it.
	pid = fork();
	if (pid == 0) {
		if (chroot("jail") < 0)
			_exit(1);
		pid_t g = fork();
		if (g == 0) {
			char *argv2[] = {"prog", "inner", realcwd, NULL};
			execv("/prog", argv2);
			_exit(1);
		}
		waitfor("grandchild", g);
		char *argv3[] = {"sh", NULL};
		execv("/bin/sh", argv3);
		printf("execv /bin/sh: %s\n", strerror(errno));
		_exit(0);
	}
	waitfor("fork and exec", pid);

	// A clone with CLONE_FS that chroots moves its parent's root too.
	pid = fork();
	if (pid == 0) {
		char *stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		pid_t c = clone(cloned, stack + 65536, CLONE_FS | SIGCHLD, NULL);
		if (c < 0)
			_exit(1);
		waitfor("clone CLONE_FS", c);
		cat("/x");
		_exit(0);
	}
	waitfor("CLONE_FS child", pid);

	// The errors.
	pid = fork();
	if (pid == 0) {
		char *longp = malloc(PATH_MAX + 2);
		memset(longp, 'a', PATH_MAX + 1);
		longp[PATH_MAX + 1] = 0;
		try("chroot missing", chroot("jail/missing"));
		try("chroot file", chroot("jail/file"));
		try("chroot file/", chroot("jail/file/x"));
		try("chroot long", chroot(longp));
		try("chroot loop", chroot("jail/loop1"));
		try("chroot bad address", syscall(SYS_chroot, (void *)8));
		try("chroot empty", chroot(""));
		if (setresuid(65534, 65534, 65534) < 0)
			_exit(1);
		try("nobody: chroot noexec", chroot("jail/noexec"));
		try("nobody: chroot jail", chroot("jail"));
		try("nobody: chroot missing", chroot("jail/missing"));
		cat("/x");
		_exit(0);
	}
	waitfor("errors", pid);
	cat("x");
	cwd("parent");
	return 0;
}
