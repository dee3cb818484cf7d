// names: file names and a symlink target holding bytes 0x80-0xff (not
// UTF-8): create, stat, open, read, rename, link, symlink and readlink,
// list (getdents64), mkdir, chdir and getcwd, unlink and rmdir. Names are
// printed hex-escaped; the output is compared with a native run's.
#define _GNU_SOURCE
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

static const char *esc(const char *s) {
	static char bufs[4][1024];
	static int n;
	char *b = bufs[n++ % 4], *p = b;
	for (; *s && p < b + sizeof(bufs[0]) - 5; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c >= 0x7f || c == '\\') {
			p += sprintf(p, "\\x%02x", c);
		} else {
			*p++ = (char)c;
		}
	}
	*p = 0;
	return b;
}

static int failed;

static void check(int ok, const char *what, const char *name) {
	if (!ok) {
		printf("%s %s: %s\n", what, esc(name), strerror(errno));
		failed = 1;
	}
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// list prints dir's entries (by getdents64), sorted, with their type.
static void list(const char *dir) {
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	check(fd >= 0, "open dir", dir);
	if (fd < 0) {
		return;
	}
	char buf[8192], *names[64];
	int n = 0;
	for (;;) {
		long got = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		check(got >= 0, "getdents64", dir);
		if (got <= 0) {
			break;
		}
		for (long off = 0; off < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..") && n < 64) {
				char *e = malloc(strlen(d->d_name) + 4);
				sprintf(e, "%s %c", d->d_name, d->d_type == DT_DIR ? 'd' : d->d_type == DT_LNK ? 'l' : d->d_type == DT_REG ? 'f' : '?');
				names[n++] = e;
			}
			off += d->d_reclen;
		}
	}
	close(fd);
	qsort(names, n, sizeof(names[0]), cmp);
	printf("list %s:", esc(dir));
	for (int i = 0; i < n; i++) {
		printf(" [%s]", esc(names[i]));
		free(names[i]);
	}
	printf("\n");
}

static void show(const char *path, int follow) {
	struct stat st;
	int r = follow ? stat(path, &st) : lstat(path, &st);
	check(r == 0, follow ? "stat" : "lstat", path);
	if (r == 0) {
		// A directory's size is its file system's (not the same under
		// the overlay's tmpfs).
		printf("%s %s: mode %o size %lld nlink %lu\n", follow ? "stat" : "lstat", esc(path), st.st_mode,
		       S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size, (unsigned long)st.st_nlink);
	}
}

static void readfile(const char *path) {
	char buf[64];
	int fd = open(path, O_RDONLY);
	check(fd >= 0, "open", path);
	if (fd < 0) {
		return;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	check(n >= 0, "read", path);
	buf[n < 0 ? 0 : n] = 0;
	printf("read %s: %s\n", esc(path), esc(buf));
	close(fd);
}

int main(int argc, char **argv) {
	char start[4096], cwd[4096];
	if (argc > 1) {
		// Exec'ed by the run below in a directory so named, with an
		// argument and an environment variable that are not UTF-8.
		const char *v = getenv("NAMES_VAR");
		check(getcwd(cwd, sizeof(cwd)) != NULL, "getcwd after exec", "");
		const char *slash = strrchr(cwd, '/');
		printf("exec: argv[1] %s, NAMES_VAR %s, cwd .../%s\n", esc(argv[1]), esc(v ? v : "(unset)"), esc(slash ? slash + 1 : cwd));
		// /proc/self/cmdline: argv[0]'s NUL, then argv[1].
		char cmd[4096];
		int fd = open("/proc/self/cmdline", O_RDONLY);
		ssize_t n = fd < 0 ? -1 : read(fd, cmd, sizeof(cmd) - 1);
		check(n > 0, "read", "/proc/self/cmdline");
		cmd[n > 0 ? n : 0] = 0;
		size_t first = strlen(cmd);
		printf("cmdline argv[1]: %s\n", esc(n > 0 && (size_t)n > first + 1 ? cmd + first + 1 : ""));
		close(fd);
		return failed;
	}
	const char *file = "f\xff", *renamed = "caf\xe9", *dir = "d\xfe\x80", *sub = "d\xfe\x80/\x80\x81\xc0";
	const char *lnk = "l\xff\xfe", *target = "t\xe9\xff/\x80\x90";
	if (!getcwd(start, sizeof(start))) {
		perror("getcwd");
		return 1;
	}

	int fd = open(file, O_CREAT | O_WRONLY | O_EXCL, 0644);
	check(fd >= 0, "create", file);
	check(write(fd, "hello \xff\n", 8) == 8, "write", file);
	close(fd);
	show(file, 1);
	readfile(file);
	check(access(file, R_OK | W_OK) == 0, "access", file);

	check(mkdir(dir, 0755) == 0, "mkdir", dir);
	show(dir, 1);
	check(rename(file, renamed) == 0, "rename", file);
	check(access(file, F_OK) != 0 && errno == ENOENT, "old name still there", file);
	check(link(renamed, sub) == 0, "link", sub);
	show(renamed, 1);

	// A symlink whose target and name are not UTF-8; one to the file.
	check(symlink(target, lnk) == 0, "symlink", lnk);
	char buf[4096];
	ssize_t n = readlink(lnk, buf, sizeof(buf) - 1);
	check(n >= 0, "readlink", lnk);
	buf[n < 0 ? 0 : n] = 0;
	printf("readlink %s: %s\n", esc(lnk), esc(buf));
	show(lnk, 0);
	check(symlink(renamed, "s\xe9") == 0, "symlink", "s\xe9");
	readfile("s\xe9");

	list(".");
	list(dir);

	// chdir into the directory: getcwd names it, relative names work.
	check(chdir(dir) == 0, "chdir", dir);
	check(getcwd(cwd, sizeof(cwd)) != NULL, "getcwd in", dir);
	printf("getcwd: %s\n", esc(strncmp(cwd, start, strlen(start)) == 0 ? cwd + strlen(start) : cwd));
	readfile("\x80\x81\xc0");
	fd = open("new\xf0\x28", O_CREAT | O_RDWR, 0600);
	check(fd >= 0, "create in cwd", "new\xf0\x28");
	close(fd);
	list(".");
	check(chdir("..") == 0, "chdir", "..");

	// A process exec'ed in the directory, with arguments not UTF-8.
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char *args[] = {argv[0], "arg\xff\xfe", NULL};
		char *env[] = {"NAMES_VAR=v\xe9\x80", NULL};
		if (chdir(dir) == 0) {
			execve(argv[0], args, env);
		}
		_exit(127);
	}
	int status;
	check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "exec'ed child", argv[0]);

	// openat and friends relative to a directory fd.
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	check(dfd >= 0, "open", dir);
	check(renameat(dfd, "new\xf0\x28", dfd, "moved\xa0") == 0, "renameat", "new\xf0\x28");
	struct stat st;
	check(fstatat(dfd, "moved\xa0", &st, AT_SYMLINK_NOFOLLOW) == 0, "fstatat", "moved\xa0");
	check(unlinkat(dfd, "moved\xa0", 0) == 0, "unlinkat", "moved\xa0");
	check(unlinkat(dfd, "\x80\x81\xc0", 0) == 0, "unlinkat", "\x80\x81\xc0");
	close(dfd);

	check(rmdir(dir) == 0, "rmdir", dir);
	check(unlink(lnk) == 0, "unlink", lnk);
	check(unlink("s\xe9") == 0, "unlink", "s\xe9");
	check(unlink(renamed) == 0, "unlink", renamed);
	list(".");
	return failed;
}
