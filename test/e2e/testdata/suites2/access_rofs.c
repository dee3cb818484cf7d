// access(W_OK) on a read-only mount: EROFS for files, directories and
// symlinks' targets, not for FIFOs; R_OK still succeeds (LTP access04).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(const char *who, const char *path, int mode) {
	int r = access(path, mode);
	printf("%s access(%s, %s): %d %s\n", who, path, mode == W_OK ? "W_OK" : "R_OK", r, r ? strerror(errno) : "");
}

static void all(const char *who) {
	check(who, "rofs/file", W_OK);
	check(who, "rofs/file", R_OK);
	check(who, "rofs/dir", W_OK);
	check(who, "rofs/link", W_OK);
	check(who, "rofs/fifo", W_OK);
	check(who, "rofs", W_OK);
}

int main(void) {
	if (mkdir("rofs", 0777) != 0 || mount("none", "rofs", "tmpfs", 0, NULL) != 0) {
		perror("mount");
		return 1;
	}
	int fd = open("rofs/file", O_CREAT | O_WRONLY, 0777);
	close(fd);
	chmod("rofs/file", 0777);
	mkdir("rofs/dir", 0777);
	chmod("rofs/dir", 0777);
	symlink("file", "rofs/link");
	mkfifo("rofs/fifo", 0666);
	chmod("rofs/fifo", 0666);
	chmod("rofs", 0777);
	if (mount("none", "rofs", "tmpfs", MS_REMOUNT | MS_RDONLY, NULL) != 0) {
		perror("remount");
		umount("rofs");
		return 1;
	}
	all("root");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (setresuid(65534, 65534, 65534) != 0)
			_exit(1);
		all("nobody");
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	umount("rofs");
	rmdir("rofs");
	return 0;
}
