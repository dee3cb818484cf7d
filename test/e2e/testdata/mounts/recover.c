// recover mounts a tmpfs on a scratch directory, puts a file in it, opens
// it, and works in it; after the file "go" appears (the test kills the
// remote sentry before making it) it checks that the mount, its file, the
// open descriptor, the working directory and the mount table are as
// they were, then unmounts.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static char top[PATH_MAX];

#define CHECK(what, expr)                                                     \
	do {                                                                  \
		errno = 0;                                                    \
		long r_ = (long)(expr);                                       \
		printf("%s: %ld errno %d\n", what, r_ < 0 ? -1L : r_, r_ < 0 ? errno : 0); \
	} while (0)

static void mountinfo(void) {
	char want[PATH_MAX + 8], line[4096];
	snprintf(want, sizeof want, " %s/mnt ", top);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof line, f)) {
		char *p = strstr(line, want);
		if (p)
			printf("mountinfo:%s", p + strlen(want) - 1);
	}
	if (f)
		fclose(f);
}

int main(void) {
	char path[PATH_MAX + 8], buf[64];
	if (!getcwd(top, sizeof top))
		return 1;
	mkdir("mnt", 0755);
	CHECK("mount", mount("scratch", "mnt", "tmpfs", MS_NOEXEC, "size=64k,mode=0711"));
	CHECK("mkdir", mkdir("mnt/d", 0755));
	int fd = open("mnt/d/f", O_CREAT | O_RDWR, 0644);
	CHECK("write", write(fd, "before", 6));
	CHECK("fsync", fsync(fd));
	CHECK("chdir", chdir("mnt/d"));
	snprintf(path, sizeof path, "%s/phase1", top);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	snprintf(path, sizeof path, "%s/go", top);
	while (access(path, F_OK) != 0)
		usleep(10000);

	CHECK("write after", write(fd, " after", 6));
	CHECK("pread", pread(fd, buf, sizeof buf, 0));
	printf("file holds %.12s\n", buf);
	CHECK("getcwd", getcwd(buf, sizeof buf) ? 0 : -1);
	printf("cwd ends %s\n", buf + strlen(top));
	CHECK("relative name", access("f", R_OK));
	struct statfs sf;
	CHECK("statfs", statfs(".", &sf));
	printf("type %#lx blocks %ld\n", (long)sf.f_type, (long)sf.f_blocks);
	mountinfo();
	snprintf(path, sizeof path, "%s/mnt", top);
	CHECK("umount cwd busy (EBUSY)", umount(path));
	CHECK("chdir out", chdir(top));
	CHECK("umount fd busy (EBUSY)", umount("mnt"));
	close(fd);
	CHECK("umount", umount("mnt"));
	CHECK("gone", access("mnt/d", F_OK));
	mountinfo();
	rmdir("mnt");
	unlink("phase1");
	unlink("go");
	return 0;
}
