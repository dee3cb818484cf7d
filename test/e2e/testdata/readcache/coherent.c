// coherent: a file read through one description while it is changed in
// every way a program can change it (another description of the same
// process, a child, a shared mapping, a rename over it, an unlink) must
// show each change at once, as on Linux, and descriptions shared with a
// child must share their offset. Prints what it sees; run in a scratch
// directory, its output is compared with a native run's.
#define _GNU_SOURCE
#include <fcntl.h>
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

static void make(const char *path, const char *content) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content) || close(fd) != 0)
		die(path);
}

// show prints what pread and fstat of fd say.
static void show(const char *step, int fd) {
	char buf[256];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n < 0)
		die("pread");
	buf[n] = 0;
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = '|';
	struct stat st;
	if (fstat(fd, &st) != 0)
		die("fstat");
	printf("%-28s size=%-4ld mode=%o nlink=%ld data=%s\n", step, (long)st.st_size, st.st_mode & 07777,
	       (long)st.st_nlink, buf);
}

// next prints what read(2) returns from fd's offset (up to n bytes).
static void next(const char *step, int fd, size_t n) {
	char buf[256];
	ssize_t got = read(fd, buf, n);
	if (got < 0)
		die("read");
	buf[got] = 0;
	printf("%-28s read %ld: %s\n", step, (long)got, buf);
}

int main(void) {
	make("f", "hello world\n");
	int r = open("f", O_RDONLY);
	if (r < 0)
		die("open f");
	show("start", r);
	next("read 5", r, 5);
	show("again", r);

	int w = open("f", O_WRONLY);
	if (w < 0)
		die("open f for writing");
	if (pwrite(w, "HELLO", 5, 0) != 5)
		die("pwrite");
	show("pwrite other fd", r);
	next("read on", r, 100);
	next("read at end", r, 100);

	if (lseek(w, 0, SEEK_END) < 0 || write(w, "more\n", 5) != 5)
		die("append");
	show("write at end", r);
	next("read the growth", r, 100);

	if (ftruncate(w, 3) != 0)
		die("ftruncate");
	show("ftruncate 3", r);
	next("read past the end", r, 100);
	if (lseek(r, 1, SEEK_SET) != 1)
		die("lseek");
	next("read after lseek 1", r, 100);
	printf("%-28s %ld\n", "lseek -2 from the end", (long)lseek(r, -2, SEEK_END));
	next("read from there", r, 100);
	printf("%-28s %ld\n", "lseek 0 from here", (long)lseek(r, 0, SEEK_CUR));
	printf("%-28s %ld\n", "lseek -1 from here", (long)lseek(r, -1, SEEK_CUR));
	printf("%-28s %ld\n", "lseek -9 from the end", (long)lseek(r, -9, SEEK_END));

	int t = open("f", O_WRONLY | O_TRUNC);
	if (t < 0)
		die("open O_TRUNC");
	show("open O_TRUNC", r);
	if (write(t, "abc\n", 4) != 4)
		die("write");
	close(t);
	show("written after", r);

	if (fchmod(w, 0600) != 0)
		die("fchmod");
	show("fchmod 600", r);
	if (chmod("f", 0640) != 0)
		die("chmod");
	show("chmod 640", r);
	struct timespec ts[2] = {{1000000000, 0}, {1234567890, 0}};
	if (utimensat(AT_FDCWD, "f", ts, 0) != 0)
		die("utimensat");
	struct stat st;
	if (fstat(r, &st) != 0)
		die("fstat");
	printf("%-28s mtime=%ld\n", "utimensat", (long)st.st_mtime);

	// A child writes through a description of its own.
	pid_t pid = fork();
	if (pid == 0) {
		int cw = open("f", O_WRONLY);
		if (cw < 0 || pwrite(cw, "child", 5, 0) != 5)
			_exit(1);
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || status != 0)
		die("child writer");
	show("child wrote", r);

	// A child reads through the parent's description: the parent's
	// next read goes on from where the child stopped.
	if (lseek(r, 0, SEEK_SET) != 0)
		die("lseek");
	pid = fork();
	if (pid == 0) {
		char b[3];
		_exit(read(r, b, 3) == 3 ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) != pid || status != 0)
		die("child reader");
	next("after the child read 3", r, 100);

	// Stores through a shared mapping, not written back yet.
	int m = open("f", O_RDWR);
	if (m < 0)
		die("open O_RDWR");
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	if (p == MAP_FAILED)
		die("mmap");
	memcpy(p, "MAP", 3);
	show("stored through a mapping", r);
	munmap(p, 4096);
	close(m);

	// A rename over the name: the open description keeps the old file;
	// a new open finds the new one.
	make("g", "other file\n");
	if (rename("g", "f") != 0)
		die("rename");
	show("renamed over (old file)", r);
	int r2 = open("f", O_RDONLY);
	if (r2 < 0)
		die("open f again");
	show("renamed over (new open)", r2);

	if (unlink("f") != 0)
		die("unlink");
	show("unlinked", r2);
	close(r2);
	close(r);
	close(w);
	return 0;
}
