// rwread: reads of a file the process holds open O_RDWR and writes
// through the same description, as Linux shows them.
//   rwread loop N   N preads of a 4 KiB file written once (the benchmark's
//                   read4k): the read cache answers them.
//   rwread mixed N  N rounds of a 4-byte pwrite and a pread of the 4 KiB,
//                   each checked against what was written.
//   rwread steps    prints what reads, lseek and fstat see while the
//                   description is written, truncated and written by a
//                   child (compared with a native run).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

// show prints what a pread of fd at 0 and fstat see.
static void show(const char *step, int fd) {
	char buf[128];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n < 0)
		die("pread");
	buf[n] = 0;
	struct stat st;
	if (fstat(fd, &st) != 0)
		die("fstat");
	printf("%-24s size=%-3ld pread=%s\n", step, (long)st.st_size, buf);
}

// next prints what read(2) returns from fd's offset (up to n bytes).
static void next(const char *step, int fd, size_t n) {
	char buf[128];
	ssize_t got = read(fd, buf, n);
	if (got < 0)
		die("read");
	buf[got] = 0;
	printf("%-24s read %ld: %s at %ld\n", step, (long)got, buf, (long)lseek(fd, 0, SEEK_CUR));
}

static void put(int fd, const char *s) {
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die("write");
}

int main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	int fd = open("rw.tmp", O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fd < 0)
		die("open");
	char buf[4096], want[4096];
	memset(want, 'x', sizeof want);
	if (!strcmp(argv[1], "loop") || !strcmp(argv[1], "mixed")) {
		long n = argc > 2 ? atol(argv[2]) : 100;
		if (pwrite(fd, want, sizeof want, 0) != sizeof want)
			die("pwrite");
		for (long i = 0; i < n; i++) {
			if (!strcmp(argv[1], "mixed")) {
				char w[5];
				snprintf(w, sizeof w, "%04ld", i % 10000);
				memcpy(want + (i * 4) % sizeof want, w, 4);
				if (pwrite(fd, w, 4, (i * 4) % sizeof want) != 4)
					die("pwrite");
			}
			if (pread(fd, buf, sizeof buf, 0) != sizeof buf)
				die("pread");
			if (memcmp(buf, want, sizeof buf) != 0) {
				fprintf(stderr, "round %ld: pread does not show the file's content\n", i);
				return 1;
			}
		}
		printf("%s %ld ok\n", argv[1], n);
		return 0;
	}
	put(fd, "0123456789");
	show("written 10", fd);
	show("again", fd);
	put(fd, "abc");
	show("written at 10", fd);
	if (lseek(fd, 0, SEEK_SET) != 0)
		die("lseek");
	next("read 4", fd, 4);
	next("read 4 more", fd, 4);
	put(fd, "XY");
	next("read after write", fd, 100);
	show("after XY", fd);
	if (pwrite(fd, "P", 1, 2) != 1)
		die("pwrite");
	show("pwrite at 2", fd);
	show("again", fd);
	if (ftruncate(fd, 5) != 0)
		die("ftruncate");
	show("ftruncate 5", fd);
	next("read past the end", fd, 100);
	printf("%-24s %ld\n", "lseek -2 from the end", (long)lseek(fd, -2, SEEK_END));
	next("read from there", fd, 100);
	pid_t pid = fork();
	if (pid == 0) {
		int cw = open("rw.tmp", O_WRONLY);
		_exit(cw >= 0 && pwrite(cw, "child", 5, 0) == 5 ? 0 : 1);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || status != 0)
		die("child writer");
	show("child wrote", fd);
	show("again", fd);
	close(fd);
	unlink("rw.tmp");
	return 0;
}
