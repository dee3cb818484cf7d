// tmpfs mounts a tmpfs on a scratch directory of its working directory,
// uses it, and prints what Linux reports: statfs, its mountinfo and
// mounts lines (without the ids and device, which differ), the errnos of
// the cases that must fail, and that umount brings the directory back.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static char cwd[PATH_MAX];

#define CHECK(what, expr)                                                     \
	do {                                                                  \
		errno = 0;                                                    \
		long r_ = (long)(expr);                                       \
		printf("%s: %ld errno %d\n", what, r_ < 0 ? -1L : r_, r_ < 0 ? errno : 0); \
	} while (0)

// mountLine prints the mountinfo line of cwd/rel without its first three
// fields (ids, device), and the mounts line.
static void mountLines(const char *rel) {
	char want[PATH_MAX + 8], line[4096];
	snprintf(want, sizeof want, " %s/%s ", cwd, rel);
	int found = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof line, f)) {
		// ID PARENT MAJ:MIN ROOT TARGET ...
		char *p = line;
		for (int i = 0; i < 3 && p; i++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		char *t = p ? strchr(p, ' ') : NULL;
		if (!t || strncmp(t, want, strlen(want)) != 0)
			continue;
		found++;
		printf("mountinfo: root %.*s%s", (int)(t - p), p, t + strlen(want) - 1);
	}
	if (f)
		fclose(f);
	snprintf(want, sizeof want, " %s/%s ", cwd, rel);
	f = fopen("/proc/self/mounts", "r");
	while (f && fgets(line, sizeof line, f)) {
		char *p = strstr(line, want);
		if (p) {
			found++;
			printf("mounts:%s", p + strlen(want) - 1);
		}
	}
	if (f)
		fclose(f);
	printf("%s: %d lines\n", rel, found);
}

int main(void) {
	if (!getcwd(cwd, sizeof cwd))
		return 1;
	mkdir("mnt", 0755);
	int under = open("mnt/under", O_CREAT | O_WRONLY, 0644);
	close(under);
	CHECK("mount", mount("scratch", "mnt", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0750,uid=7"));
	CHECK("under hidden", access("mnt/under", F_OK));
	struct stat st;
	CHECK("stat root", stat("mnt", &st));
	printf("root mode %o uid %d\n", st.st_mode, st.st_uid);
	int fd = open("mnt/f", O_CREAT | O_RDWR, 0644);
	CHECK("write", write(fd, "hello", 5));
	struct stat here, file;
	stat(".", &here);
	fstat(fd, &file);
	printf("own device: %d, file on it: %d\n", here.st_dev != st.st_dev, file.st_dev == st.st_dev);
	struct statfs sf;
	CHECK("statfs", statfs("mnt/f", &sf));
	printf("type %#lx blocks %ld bsize %ld flags %#lx\n", (long)sf.f_type, (long)sf.f_blocks, (long)sf.f_bsize, (long)sf.f_flags);
	CHECK("fstatfs", fstatfs(fd, &sf));
	printf("type %#lx\n", (long)sf.f_type);
	mountLines("mnt");
	CHECK("dotdot", access("mnt/../mnt/f", F_OK));
	CHECK("mkdir sub", mkdir("mnt/sub", 0700));
	CHECK("dotdot sub", access("mnt/sub/../f", F_OK));
	CHECK("rename out (EXDEV)", rename("mnt/f", "g"));
	CHECK("link out (EXDEV)", link("mnt/f", "g"));
	CHECK("rmdir mount point (EBUSY)", rmdir("mnt"));
	CHECK("umount not a mount (EINVAL)", umount("."));
	CHECK("umount bad flag (EINVAL)", umount2("mnt", 0x100));
	CHECK("mount unknown type (ENODEV)", mount("x", "mnt", "nosuchfs", 0, NULL));
	CHECK("mount bad option (EINVAL)", mount("x", "mnt", "tmpfs", 0, "size=lots"));
	CHECK("umount busy (EBUSY)", umount("mnt"));
	close(fd);
	// A bind mount of a directory of the tmpfs onto another.
	CHECK("mkdir a", mkdir("mnt/a", 0755));
	CHECK("mkdir b", mkdir("mnt/b", 0755));
	CHECK("create a/in", close(open("mnt/a/in", O_CREAT | O_WRONLY, 0600)));
	CHECK("bind", mount("mnt/a", "mnt/b", NULL, MS_BIND, NULL));
	CHECK("through bind", access("mnt/b/in", F_OK));
	CHECK("create via bind", close(open("mnt/b/new", O_CREAT | O_WRONLY, 0600)));
	CHECK("seen in source", access("mnt/a/new", F_OK));
	CHECK("rename across bind (EXDEV)", rename("mnt/b/new", "mnt/new"));
	mountLines("mnt/b");
	CHECK("bind a file (ENOTDIR)", mount("mnt/a/in", "mnt/b", NULL, MS_BIND, NULL));
	CHECK("umount bind", umount("mnt/b"));
	CHECK("bind gone", access("mnt/b/in", F_OK));
	mountLines("mnt/b");
	CHECK("remount ro", mount(NULL, "mnt", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
	CHECK("create on ro (EROFS)", open("mnt/h", O_CREAT | O_WRONLY, 0644));
	CHECK("chmod on ro (EROFS)", chmod("mnt/f", 0600));
	fflush(stdout);
	if (fork() == 0) {
		// EROFS comes before the permission checks.
		setuid(65534);
		CHECK("chown on ro as nobody (EROFS)", chown("mnt/f", 1, 1));
		CHECK("utimes on ro as nobody (EROFS)", utimes("mnt/f", NULL));
		fflush(stdout);
		_exit(0);
	}
	wait(NULL);
	CHECK("truncate on ro (EROFS)", truncate("mnt/f", 1));
	CHECK("unlink on ro (EROFS)", unlink("mnt/f"));
	mountLines("mnt");
	CHECK("remount rw size", mount(NULL, "mnt", NULL, MS_REMOUNT, "size=2m"));
	mountLines("mnt");
	CHECK("umount", umount("mnt"));
	CHECK("under back", access("mnt/under", F_OK));
	mountLines("mnt");
	CHECK("lazy mount", mount("tmpfs", "mnt", "tmpfs", 0, NULL));
	CHECK("chdir in", chdir("mnt"));
	CHECK("umount busy cwd (EBUSY)", umount2(".", 0));
	CHECK("umount detach", umount2(".", MNT_DETACH));
	CHECK("create in detached", open("x", O_CREAT | O_WRONLY, 0644));
	CHECK("chdir out", chdir(cwd));
	mountLines("mnt");
	unlink("mnt/under");
	rmdir("mnt");
	return 0;
}
