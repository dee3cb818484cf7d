// other_names: reads and fstat through read-only descriptions of one
// file opened by its three names (a, its hard link b, its symlink c) must
// show every change made through another description: writes through
// another fd of a and through b, a fresh open after them, a write by
// another thread and by a child, a shared mapping of b and its msync,
// ftruncate, the removal of b (link count) and a chmod through c, and
// fallocate. do may answer the reads and fstat from read-lease copies.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

static int open_or_die(const char *path, int flags) {
	int fd = open(path, flags);
	if (fd < 0)
		die(path);
	return fd;
}

static void look(const char *label, int fd) {
	char buf[64] = {0};
	struct stat st;
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (fstat(fd, &st) != 0)
		die("fstat");
	printf("%-22s read %zd '%s' size %ld nlink %ld mode %o\n", label, n, n > 0 ? buf : "", (long)st.st_size,
	       (long)st.st_nlink, st.st_mode);
	fflush(stdout);
}

static int wfd;

static void *thread_write(void *arg) {
	if (pwrite(wfd, (char *)arg, strlen(arg), 0) < 0)
		die("thread's write");
	return NULL;
}

int main(void) {
	int fd = open("a", O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || write(fd, "first", 5) != 5)
		die("create a");
	close(fd);
	if (link("a", "b") != 0 || symlink("a", "c") != 0)
		die("links");
	int ra = open_or_die("a", O_RDONLY), rb = open_or_die("b", O_RDONLY), rc = open_or_die("c", O_RDONLY);
	for (int i = 0; i < 2; i++) {
		look("a", ra);
		look("b", rb);
		look("c", rc);
	}
	wfd = open_or_die("a", O_WRONLY);
	if (pwrite(wfd, "second", 6, 0) != 6)
		die("write a");
	look("b, a written", rb);
	look("c, a written", rc);
	look("a, a written", ra);
	int wb = open_or_die("b", O_WRONLY | O_APPEND);
	if (write(wb, "+b", 2) != 2)
		die("append b");
	look("c, b appended", rc);
	look("a, b appended", ra);
	look("b, b appended", rb);
	int ra2 = open_or_die("a", O_RDONLY);
	look("a opened again", ra2);
	look("a opened again", ra2);
	if (pwrite(wfd, "THIRD", 5, 0) != 5)
		die("write a again");
	look("a2, a written", ra2);
	look("b, a written", rb);

	// The child and the mapping come before the thread: a process with
	// a second thread takes no read leases.
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int f = open("b", O_WRONLY);
		_exit(f < 0 || pwrite(f, "child", 5, 0) != 5);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || status != 0)
		die("child");
	look("a, child wrote b", ra);
	look("b, child wrote b", rb);
	look("a2, child wrote b", ra2);
	int mb = open_or_die("b", O_RDWR);
	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mb, 0);
	if (m == MAP_FAILED)
		die("mmap b");
	memcpy(m, "MAPPED", 6);
	look("a, b's mapping written", ra);
	look("b, b's mapping written", rb);
	if (msync(m, 4096, MS_SYNC) != 0)
		die("msync");
	look("a, msync", ra);
	munmap(m, 4096);
	if (ftruncate(wfd, 3) != 0)
		die("ftruncate");
	look("a, ftruncate", ra);
	look("c, ftruncate", rc);
	if (unlink("b") != 0)
		die("unlink b");
	look("a, b removed", ra);
	look("b, b removed", rb);
	if (chmod("c", 0600) != 0)
		die("chmod c");
	look("a, chmod c", ra);
	if (fallocate(wfd, 0, 0, 20) != 0)
		die("fallocate");
	look("a, fallocate", ra);

	pthread_t th;
	if (pthread_create(&th, NULL, thread_write, "fourth") != 0 || pthread_join(th, NULL) != 0)
		die("thread");
	look("a, thread wrote a", ra);
	look("c, thread wrote a", rc);
	return 0;
}
