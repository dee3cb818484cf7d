// Mount namespaces: a child unshares its mount namespace, makes every
// mount private (so that, natively, nothing it mounts reaches the host)
// and mounts tmpfs file systems in scratch/ of the working directory:
// the parent sees none of them, in its walks or its mountinfo, but reads
// them in the child's /proc/<pid>/mountinfo. A grandchild made with
// clone(CLONE_NEWNS) gets a copy of the child's mounts: a bind mount it
// makes under a shared mount reaches the child's peer, a tmpfs under a
// private one and an umount stay its own. Mount points under the working
// directory are printed relative to it. Output is compared with a native
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char realcwd[PATH_MAX];

static void result(const char *what, long r) {
	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %ld\n", what, r);
}

static void exists(const char *who, const char *path) {
	struct stat st;
	if (stat(path, &st) < 0)
		printf("%s: stat %s: %s\n", who, path, strerror(errno));
	else
		printf("%s: stat %s: ok\n", who, path);
}

static void touch(const char *path) {
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0) {
		printf("create %s: %s\n", path, strerror(errno));
		return;
	}
	close(fd);
}

// mounts prints the mounts under the working directory that path (a
// mountinfo file) lists: mount point, file system type, and whether the
// mount is shared or a slave.
static void mounts(const char *who, const char *path) {
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("%s: %s: %s\n", who, path, strerror(errno));
		return;
	}
	char line[4096];
	size_t n = strlen(realcwd);
	printf("%s: mounts in %s:", who, strncmp(path, "/proc/self", 10) == 0 ? path : "/proc/<child>/mountinfo");
	while (fgets(line, sizeof line, f)) {
		char *fields[32];
		int nf = 0;
		for (char *s = strtok(line, " \n"); s && nf < 32; s = strtok(NULL, " \n"))
			fields[nf++] = s;
		if (nf < 7 || strncmp(fields[4], realcwd, n) != 0 || fields[4][n] != '/')
			continue;
		const char *fstype = "?";
		int shared = 0, slave = 0;
		for (int i = 6; i < nf; i++) {
			if (strcmp(fields[i], "-") == 0) {
				if (i + 1 < nf)
					fstype = fields[i + 1];
				break;
			}
			shared |= strncmp(fields[i], "shared:", 7) == 0;
			slave |= strncmp(fields[i], "master:", 7) == 0;
		}
		printf(" %s(%s%s%s)", fields[4] + n + 1, fstype, shared ? ",shared" : "", slave ? ",slave" : "");
	}
	printf("\n");
	fclose(f);
}

// nslink returns the text of /proc/<pid>/ns/mnt ("self" for pid 0).
static const char *nslink(pid_t pid) {
	static char b[2][160];
	static int n;
	char path[32];
	char *out = b[n++ % 2];
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/ns/mnt", pid);
	else
		snprintf(path, sizeof path, "/proc/self/ns/mnt");
	ssize_t r = readlink(path, out, sizeof b[0] - 1);
	if (r < 0)
		snprintf(out, sizeof b[0], "%s: %s", path, strerror(errno));
	else
		out[r] = 0;
	return out;
}

// sameNS prints whether two ns/mnt links name one namespace.
static void sameNS(const char *what, const char *a, const char *b) {
	int ok = strncmp(a, "mnt:[", 5) == 0 && strncmp(b, "mnt:[", 5) == 0;
	printf("%s: %s\n", what, !ok ? "not mnt:[...]" : strcmp(a, b) == 0 ? "same" : "different");
	if (!ok)
		printf("  %s / %s\n", a, b);
}

static void wait_child(pid_t pid) {
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("child %d: status %#x\n", pid, st);
}

// grandchild runs in a copy of the child's namespace.
static void grandchild(void) {
	sameNS("grandchild: its ns/mnt and the child's", nslink(0), nslink(getppid()));
	exists("grandchild", "scratch/m/f");
	// Under the shared scratch/m: the child's peer gets it.
	result("grandchild: bind scratch/q on scratch/m/s", mount("scratch/q", "scratch/m/s", NULL, MS_BIND, NULL));
	// Under the private scratch/q: its own.
	result("grandchild: tmpfs on scratch/q/x", mount("tmpfs", "scratch/q/x", "tmpfs", 0, NULL));
	touch("scratch/q/x/g");
	result("grandchild: umount scratch/u", umount2("scratch/u", 0));
	exists("grandchild", "scratch/u/f");
	exists("grandchild", "scratch/m/s/qf");
	mounts("grandchild", "/proc/self/mountinfo");
	fflush(stdout);
}

static void child(int ready, int done) {
	char before[64];
	snprintf(before, sizeof before, "%s", nslink(0));
	result("child: unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
	sameNS("child: ns/mnt before and after unshare", before, nslink(0));
	// Nothing below may reach the parent's mounts (natively, the host's).
	result("child: make / rprivate", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	result("child: tmpfs on scratch/m", mount("tmpfs", "scratch/m", "tmpfs", 0, "mode=755"));
	result("child: make scratch/m shared", mount(NULL, "scratch/m", NULL, MS_SHARED, NULL));
	result("child: tmpfs on scratch/q", mount("tmpfs", "scratch/q", "tmpfs", 0, NULL));
	result("child: tmpfs on scratch/u", mount("tmpfs", "scratch/u", "tmpfs", 0, NULL));
	touch("scratch/m/f");
	touch("scratch/q/qf");
	touch("scratch/u/f");
	mkdir("scratch/m/s", 0755);
	mkdir("scratch/q/x", 0755);
	mounts("child", "/proc/self/mountinfo");
	fflush(stdout);
	pid_t pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		grandchild();
		_exit(0);
	}
	if (pid < 0)
		result("child: clone(CLONE_NEWNS)", pid);
	else
		wait_child(pid);
	exists("child", "scratch/m/s/qf");
	exists("child", "scratch/q/x/g");
	exists("child", "scratch/u/f");
	mounts("child", "/proc/self/mountinfo");
	fflush(stdout);
	char c = 0;
	if (write(ready, &c, 1) != 1 || read(done, &c, 1) != 1)
		printf("child: pipe: %s\n", strerror(errno));
	// The same path the parent just found missing (in the sandbox, an
	// answer its client may keep) is the child's file.
	exists("child", "scratch/m/f");
	fflush(stdout);
	_exit(0);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!getcwd(realcwd, sizeof realcwd))
		return 1;
	const char *dirs[] = {"scratch", "scratch/m", "scratch/q", "scratch/u"};
	for (unsigned i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		mkdir(dirs[i], 0755);
	int ready[2], done[2];
	if (pipe(ready) || pipe(done))
		return 1;
	pid_t pid = fork();
	if (pid == 0)
		child(ready[1], done[0]);
	char c;
	if (read(ready[0], &c, 1) != 1)
		printf("parent: pipe: %s\n", strerror(errno));
	exists("parent", "scratch/m/f");
	exists("parent", "scratch/u/f");
	mounts("parent", "/proc/self/mountinfo");
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mountinfo", pid);
	mounts("parent", path);
	sameNS("parent: its ns/mnt and the child's", nslink(0), nslink(pid));
	if (write(done[1], &c, 1) != 1)
		printf("parent: pipe: %s\n", strerror(errno));
	wait_child(pid);
	// The child's namespace went with it.
	exists("parent", "scratch/m/f");
	for (int i = sizeof dirs / sizeof dirs[0] - 1; i >= 0; i--)
		rmdir(dirs[i]);
	return 0;
}
