/* Errno semantics pjdfstest and LTP check: over-long names and paths,
 * O_PATH descriptors, ENOTDIR/ELOOP/EISDIR/EEXIST/ENOTEMPTY, the xattr
 * calls on a filesystem without them, and utime/utimes/futimesat. */
#include <sys/xattr.h>
#include <sys/time.h>
#include <utime.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

int main(void) {
	umask(022);
	int fd;
	char name[300], path[5000];
	must(mkdir("d", 0755));
	must(fd = open("f", O_CREAT | O_WRONLY, 0644));
	must(write(fd, "data", 4));
	close(fd);
	must(symlink("loop1", "loop2"));
	must(symlink("loop2", "loop1"));
	must(symlink("f", "lnk"));
	must(mkdir("full", 0755));
	must(close(open("full/x", O_CREAT | O_WRONLY, 0644)));

	/* NAME_MAX and PATH_MAX. */
	memset(name, 'n', 255);
	name[255] = 0;
	T((fd = open(name, O_CREAT | O_WRONLY, 0644)) >= 0);
	close(fd);
	T(unlink(name));
	memset(name, 'n', 256);
	name[256] = 0;
	T(open(name, O_CREAT | O_WRONLY, 0644));
	T(mkdir(name, 0755));
	T(access(name, F_OK));
	T(rename("f", name));
	T(symlink("f", name));
	memset(path, 0, sizeof(path));
	for (int i = 0; i < 4094; i += 2)
		memcpy(path + i, "./", 2);
	path[4094] = 'f';
	T(access(path, F_OK)); /* 4095 bytes: fits */
	path[4095] = 'f';
	T(access(path, F_OK)); /* 4096 bytes: too long */
	T(open(path, O_RDONLY));
	T(mkdir(path, 0755));
	T(unlink(path));
	T(truncate(path, 0));
	T(chmod(path, 0644));
	memset(path, 'a', 4999);
	path[4999] = 0;
	T(stat(path, &(struct stat){0}));

	/* O_PATH descriptors. */
	int pfd = open("f", O_PATH);
	T(pfd >= 0);
	char buf[8];
	T(read(pfd, buf, 1));
	T(write(pfd, "x", 1));
	T(fchmod(pfd, 0600));
	T(fchown(pfd, 0, 0));
	T(ftruncate(pfd, 0));
	T(fsync(pfd));
	T(lseek(pfd, 0, SEEK_SET));
	T(fgetxattr(pfd, "user.x", buf, sizeof(buf)));
	T(fstat(pfd, &(struct stat){0}));
	T(fchmodat(pfd, "", 0600, AT_EMPTY_PATH) == 0 || errno == ENOTSUP || errno == EINVAL);
	T(fchownat(pfd, "", 0, 0, AT_EMPTY_PATH));
	T(futimens(pfd, NULL));
	int dfd = open("d", O_PATH | O_DIRECTORY);
	T(fchdir(dfd));
	T(chdir(".."));
	close(pfd);
	close(dfd);

	/* ENOTDIR, ELOOP, EISDIR, EEXIST, ENOTEMPTY, EINVAL. */
	T(open("f/x", O_RDONLY));
	T(open("f/", O_RDONLY));
	T(mkdir("f/x", 0755));
	T(stat("f/", &(struct stat){0}));
	T(open("loop1", O_RDONLY));
	T(open("loop1/x", O_RDONLY));
	T(open("lnk", O_RDONLY | O_NOFOLLOW));
	T(open("d", O_WRONLY));
	T(open("d", O_RDWR));
	T(open("d", O_RDONLY | O_TRUNC));
	T(open("f", O_RDONLY | O_DIRECTORY));
	T(unlink("d"));
	T(rmdir("f"));
	T(rmdir("lnk"));
	T(mkdir("f", 0755));
	T(mkdir("lnk", 0755));
	T(mkdir("d/", 0755));
	T(rmdir("full"));
	T(rmdir("d/."));
	T(rmdir("."));
	T(rename("d", "f"));
	T(rename("f", "d"));
	T(rename("d", "d/sub"));
	T(link("d", "dlink"));
	T(link("f", "f"));
	T(symlink("x", "f"));
	T(truncate("d", 0));
	T(truncate("f", -1));
	T(unlink("f/"));
	T(open("", O_RDONLY));
	T(mknod("reg", S_IFREG | 0640, 0));
	S("reg");
	T(mknod("bad", 0170000 | 0644, 0));

	/* xattrs: f has none (ENODATA; ENOTSUP on a file system without user. ones). */
	errno = 0;
	ssize_t n = getxattr("f", "user.x", buf, sizeof(buf));
	printf("getxattr: %zd %s\n", n, n < 0 && (errno == ENOTSUP || errno == ENODATA) ? "ENOTSUP-or-ENODATA" : strerrorname_np(errno));
	T(getxattr("missing", "user.x", buf, sizeof(buf)));
	T(lgetxattr("missing", "user.x", buf, sizeof(buf)));
	T(getxattr("f", "", buf, sizeof(buf)));
	T(listxattr("missing", buf, sizeof(buf)));
	T(listxattr("f", buf, sizeof(buf)));
	T(llistxattr("lnk", NULL, 0));
	T(removexattr("missing", "user.x"));
	T(setxattr("missing", "user.x", "v", 1, 0));
	T(fgetxattr(99, "user.x", buf, sizeof(buf)));
	T(getxattr("f", "system.posix_acl_access", buf, sizeof(buf)) < 0 && (errno == ENOTSUP || errno == ENODATA));
	T(lgetxattr("f", "security.selinux", buf, sizeof(buf)) < 0 && (errno == ENOTSUP || errno == ENODATA));

	/* utime, utimes, futimesat. */
	struct utimbuf ub = {1000, 2000};
	T(utime("f", &ub));
	struct stat st;
	stat("f", &st);
	printf("utime: atime %ld mtime %ld\n", (long)st.st_atime, (long)st.st_mtime);
	struct timeval tv[2] = {{3000, 500000}, {4000, 250000}};
	T(utimes("f", tv));
	stat("f", &st);
	printf("utimes: atime %ld.%09ld mtime %ld.%09ld\n", (long)st.st_atime, st.st_atim.tv_nsec, (long)st.st_mtime, st.st_mtim.tv_nsec);
	tv[0].tv_usec = 1000000;
	T(utimes("f", tv));
	tv[0].tv_usec = 0;
	int cwd = open(".", O_RDONLY | O_DIRECTORY);
	T(syscall(SYS_futimesat, cwd, "f", tv));
	stat("f", &st);
	printf("futimesat: atime %ld mtime %ld\n", (long)st.st_atime, (long)st.st_mtime);
	T(utime("missing", &ub));
	T(utimes("f", NULL));
	stat("f", &st);
	printf("utimes NULL is recent: %d\n", st.st_mtime > 100000);
	return 0;
}
