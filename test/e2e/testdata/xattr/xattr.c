// xattr: the user. extended attributes of a file, a directory, through a
// symlink and an fd, with Linux's errnos (EEXIST, ENODATA, ERANGE, E2BIG,
// EINVAL, EOPNOTSUPP, EPERM on a symlink and a FIFO), and, as another
// user, the permission rules (write permission to set, trusted. and
// security. refused, a sticky directory's owner only). Prints what
// happened; run natively and sandboxed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static void res(const char *what, long r) {
	if (r < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static void value(const char *what, long r, const char *buf) {
	if (r < 0)
		printf("%s: %s\n", what, strerror(errno));
	else
		printf("%s: %ld \"%.*s\"\n", what, r, (int)r, buf);
}

static int cmp(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

// list prints the names a listing of n bytes holds, sorted (a file
// system lists them in its own order).
static void list(const char *what, long n, char *buf) {
	if (n < 0) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	char *names[64];
	int k = 0;
	for (char *p = buf; p < buf + n && k < 64; p += strlen(p) + 1)
		names[k++] = p;
	qsort(names, k, sizeof names[0], cmp);
	printf("%s: %ld", what, n);
	for (int i = 0; i < k; i++)
		printf(" %s", names[i]);
	printf("\n");
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	char buf[256], name[300];
	static char big[65537];
	if (mkdir("d", 0755) || mkdir("d/s", 01777) || mkdir("d/w", 0777) || symlink("f", "d/l") || mkfifo("d/p", 0644)) {
		perror("setup");
		return 1;
	}
	chmod("d/s", 01777);
	chmod("d/w", 0777);
	int fd = open("d/f", O_CREAT | O_RDWR, 0644);
	if (fd < 0) {
		perror("open");
		return 1;
	}

	res("set create", setxattr("d/f", "user.a", "one", 3, XATTR_CREATE));
	res("set create again", setxattr("d/f", "user.a", "one", 3, XATTR_CREATE));
	res("set replace", setxattr("d/f", "user.a", "two", 3, XATTR_REPLACE));
	res("set replace missing", setxattr("d/f", "user.b", "x", 1, XATTR_REPLACE));
	res("fset empty value", fsetxattr(fd, "user.b", "", 0, 0));
	res("set through the symlink", setxattr("d/l", "user.c", "via", 3, 0));
	res("set directory", setxattr("d", "user.d", "dir", 3, 0));
	res("lset symlink", lsetxattr("d/l", "user.a", "x", 1, 0));
	res("set fifo", setxattr("d/p", "user.a", "x", 1, 0));
	res("set bad flags", setxattr("d/f", "user.a", "x", 1, 4));
	res("set empty name", setxattr("d/f", "", "x", 1, 0));
	memset(name, 'n', sizeof name);
	memcpy(name, "user.", 5);
	name[256] = 0;
	res("set long name", setxattr("d/f", name, "x", 1, 0));
	res("set too large", setxattr("d/f", "user.big", big, sizeof big, 0));
	res("set user. alone", setxattr("d/f", "user.", "x", 1, 0));
	res("set unknown namespace", setxattr("d/f", "foo.a", "x", 1, 0));
	res("set missing file", setxattr("d/none", "user.a", "x", 1, 0));
	// Any byte but NUL may name an attribute.
	res("set non-UTF-8 name", setxattr("d/f", "user.\xff\xfe", "b", 1, 0));
	value("get non-UTF-8 name", getxattr("d/f", "user.\xff\xfe", buf, sizeof buf), buf);
	res("remove non-UTF-8 name", removexattr("d/f", "user.\xff\xfe"));

	res("get size", getxattr("d/f", "user.a", NULL, 0));
	value("get", getxattr("d/f", "user.a", buf, sizeof buf), buf);
	res("get small buffer", getxattr("d/f", "user.a", buf, 2));
	value("get empty value", getxattr("d/f", "user.b", buf, sizeof buf), buf);
	value("fget", fgetxattr(fd, "user.c", buf, sizeof buf), buf);
	res("get missing", getxattr("d/f", "user.none", buf, sizeof buf));
	res("lget symlink", lgetxattr("d/l", "user.a", buf, sizeof buf));
	value("get through the symlink", getxattr("d/l", "user.a", buf, sizeof buf), buf);
	value("get directory", getxattr("d", "user.d", buf, sizeof buf), buf);
	res("get fifo", getxattr("d/p", "user.a", buf, sizeof buf));
	res("get the gofer's seal", getxattr("d/f", "user.runsc-decoupled.setid", buf, sizeof buf));

	res("list size", listxattr("d/f", NULL, 0));
	list("list", listxattr("d/f", buf, sizeof buf), buf);
	res("list small buffer", listxattr("d/f", buf, 3));
	list("flist", flistxattr(fd, buf, sizeof buf), buf);
	list("llist symlink", llistxattr("d/l", buf, sizeof buf), buf);
	list("list directory", listxattr("d", buf, sizeof buf), buf);

	// A change moves the file's ctime on, as a stat sees at once (the
	// same stat twice first: the client may answer it from its cache).
	struct stat before, after;
	stat("d/f", &before);
	stat("d/f", &before);
	usleep(20000);
	res("set again", setxattr("d/f", "user.b", "b", 1, 0));
	stat("d/f", &after);
	stat("d/f", &after);
	printf("set moves the ctime: %s\n", before.st_ctim.tv_sec != after.st_ctim.tv_sec || before.st_ctim.tv_nsec != after.st_ctim.tv_nsec ? "yes" : "no");
	usleep(20000);
	res("remove", removexattr("d/f", "user.b"));
	fstat(fd, &before);
	printf("remove moves the ctime: %s\n", before.st_ctim.tv_sec != after.st_ctim.tv_sec || before.st_ctim.tv_nsec != after.st_ctim.tv_nsec ? "yes" : "no");
	res("remove again", removexattr("d/f", "user.b"));
	res("fremove", fremovexattr(fd, "user.c"));
	res("lremove symlink", lremovexattr("d/l", "user.a"));
	res("remove unknown namespace", removexattr("d/f", "foo.a"));
	// A set-id bit the gofer keeps in an attribute of its own: not listed.
	res("chmod setuid", chmod("d/f", 04644));
	list("list after chmod", listxattr("d/f", buf, sizeof buf), buf);
	res("get the gofer's seal after chmod", getxattr("d/f", "user.runsc-decoupled.setid", buf, sizeof buf));
	res("chmod back", chmod("d/f", 0644));

	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534)) {
			perror("setuid");
			_exit(1);
		}
		res("nobody: set without write permission", setxattr("d/f", "user.x", "1", 1, 0));
		res("nobody: remove without write permission", removexattr("d/f", "user.a"));
		value("nobody: get", getxattr("d/f", "user.a", buf, sizeof buf), buf);
		res("nobody: set trusted", setxattr("d/f", "trusted.x", "1", 1, 0));
		res("nobody: get trusted", getxattr("d/f", "trusted.x", buf, sizeof buf));
		res("nobody: set security", setxattr("d/f", "security.x", "1", 1, 0));
		res("nobody: set sticky directory", setxattr("d/s", "user.x", "1", 1, 0));
		res("nobody: set writable directory", setxattr("d/w", "user.x", "1", 1, 0));
		int nf = open("d/s/mine", O_CREAT | O_RDWR, 0600);
		res("nobody: create in the sticky directory", nf < 0 ? -1 : 0);
		res("nobody: set own file", setxattr("d/s/mine", "user.x", "1", 1, 0));
		list("nobody: list", listxattr("d/f", buf, sizeof buf), buf);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	res("child", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}
