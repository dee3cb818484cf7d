// openat2(2): its open_how checks and the RESOLVE_* flags' walks
// (NO_XDEV, NO_MAGICLINKS, NO_SYMLINKS, BENEATH, IN_ROOT, CACHED), on a
// tree it makes in its working directory. Output is compared with a
// native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int dfd;

static void try(const char *what, int dir, const char *path, unsigned long long flags, unsigned long long mode,
		unsigned long long resolve) {
	struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
	long fd = syscall(SYS_openat2, dir, path, &how, sizeof(how));
	if (fd < 0) {
		printf("%s: -1 %s\n", what, strerror(errno));
		return;
	}
	struct stat st;
	fstat(fd, &st);
	printf("%s: ok (%s)\n", what, S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "link" : "file");
	close(fd);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	mkdir("d", 0755);
	mkdir("d/sub", 0755);
	close(open("d/f", O_CREAT | O_WRONLY, 0644));
	close(open("outside", O_CREAT | O_WRONLY, 0644));
	symlink("sub/../f", "d/rel");
	symlink("../outside", "d/up");
	symlink("/d/f", "d/abs");
	symlink("/proc/self", "d/proc");
	dfd = open("d", O_DIRECTORY | O_RDONLY);
	int fd = open("d/f", O_RDONLY);
	char magic[64];
	snprintf(magic, sizeof(magic), "/proc/self/fd/%d", fd);

	// open_how itself.
	struct open_how how = {0};
	long r = syscall(SYS_openat2, dfd, "f", &how, 0);
	printf("size 0: %ld %s\n", r, strerror(errno));
	char big[32] = {0};
	r = syscall(SYS_openat2, dfd, "f", big, 32);
	printf("size 32, zero tail: %s\n", r >= 0 ? "ok" : strerror(errno));
	big[28] = 1;
	r = syscall(SYS_openat2, dfd, "f", big, 32);
	printf("size 32, tail set: %ld %s\n", r, strerror(errno));
	try("unknown flag", dfd, "f", 1ULL << 40, 0, 0);
	try("mode without O_CREAT", dfd, "f", O_RDONLY, 0644, 0);
	try("mode beyond 07777", dfd, "new", O_CREAT | O_WRONLY, 010000, 0);
	try("O_PATH with O_RDWR", dfd, "f", O_PATH | O_RDWR, 0, 0);
	try("unknown resolve flag", dfd, "f", O_RDONLY, 0, 1 << 10);
	try("BENEATH and IN_ROOT", dfd, "f", O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT);
	try("CACHED with O_CREAT", dfd, "f", O_RDONLY | O_CREAT, 0644, RESOLVE_CACHED);
	try("plain", dfd, "f", O_RDONLY, 0, 0);
	try("create", dfd, "made", O_RDWR | O_CREAT | O_EXCL, 0600, 0);

	// NO_SYMLINKS and NO_MAGICLINKS.
	try("symlink followed", dfd, "rel", O_RDONLY, 0, 0);
	try("NO_SYMLINKS, last", dfd, "rel", O_RDONLY, 0, RESOLVE_NO_SYMLINKS);
	try("NO_SYMLINKS, O_PATH|O_NOFOLLOW", dfd, "rel", O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS);
	try("NO_SYMLINKS, inner", AT_FDCWD, "d/proc/status", O_RDONLY, 0, RESOLVE_NO_SYMLINKS);
	try("NO_SYMLINKS, O_CREAT", dfd, "rel", O_RDWR | O_CREAT, 0600, RESOLVE_NO_SYMLINKS);
	try("magic link", AT_FDCWD, magic, O_RDONLY, 0, 0);
	try("NO_MAGICLINKS, magic link", AT_FDCWD, magic, O_RDONLY, 0, RESOLVE_NO_MAGICLINKS);
	try("NO_MAGICLINKS, a plain symlink", dfd, "rel", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS);

	// NO_XDEV.
	try("NO_XDEV, into /proc", AT_FDCWD, "/proc/self/status", O_RDONLY, 0, RESOLVE_NO_XDEV);
	try("NO_XDEV, same mount", dfd, "sub/../f", O_RDONLY, 0, RESOLVE_NO_XDEV);
	int procfd = open("/proc", O_DIRECTORY | O_RDONLY);
	try("NO_XDEV, .. out of /proc", procfd, "../d/f", O_RDONLY, 0, RESOLVE_NO_XDEV);
	try("NO_XDEV, within /proc", procfd, "self/status", O_RDONLY, 0, RESOLVE_NO_XDEV);

	// BENEATH.
	try("BENEATH, inside", dfd, "sub/../f", O_RDONLY, 0, RESOLVE_BENEATH);
	try("BENEATH, a link inside", dfd, "rel", O_RDONLY, 0, RESOLVE_BENEATH);
	try("BENEATH, ..", dfd, "../outside", O_RDONLY, 0, RESOLVE_BENEATH);
	try("BENEATH, a link out", dfd, "up", O_RDONLY, 0, RESOLVE_BENEATH);
	try("BENEATH, absolute", dfd, "/d/f", O_RDONLY, 0, RESOLVE_BENEATH);
	try("BENEATH, absolute link", dfd, "abs", O_RDONLY, 0, RESOLVE_BENEATH);
	try("BENEATH, magic link", dfd, magic, O_RDONLY, 0, RESOLVE_BENEATH);

	// IN_ROOT: d is the root.
	try("IN_ROOT, ..", dfd, "../../f", O_RDONLY, 0, RESOLVE_IN_ROOT);
	try("IN_ROOT, absolute", dfd, "/f", O_RDONLY, 0, RESOLVE_IN_ROOT);
	try("IN_ROOT, absolute link", dfd, "abs", O_RDONLY, 0, RESOLVE_IN_ROOT);
	try("IN_ROOT, a link up", dfd, "up", O_RDONLY, 0, RESOLVE_IN_ROOT);
	try("IN_ROOT, the root", dfd, "/", O_RDONLY, 0, RESOLVE_IN_ROOT);
	try("IN_ROOT, create", dfd, "/sub/new", O_RDWR | O_CREAT, 0600, RESOLVE_IN_ROOT);
	struct stat st;
	printf("created under the root: %s\n", stat("d/sub/new", &st) == 0 ? "yes" : "no");
	return 0;
}
