// ldlike writes output files as ld's BFD does: it creates each one
// O_RDWR|O_CREAT|O_TRUNC, fstats it (an empty regular file, one link),
// writes 64 KiB in pieces, then, round after
// round, seeks back, reads what it wrote, seeks on from there (SEEK_CUR)
// and patches it, checks a pread and the end (SEEK_END), and now and then
// grows the file. Every answer is checked against the program's own copy
// of the file; at the end the file is read back whole and its checksum
// printed (the first file's after an fstat that finds the inode the
// first one did, at the size written: the others' would wait, and a
// test counts what a file's calls wait for).
//
// usage: ldlike FILES ROUNDS [MODES]
//   MODES names any of:
//   slow:  sleeps 300 us a round (the server-kill test kills meanwhile)
//   threads: a second thread, idle in pause(), runs all along (as the
//          Go toolchain's compile and link, whose archive writer asks
//          for its offset after each piece)
//   share: before the first file's writes, a child chmods it by name
//          and the parent's fstat sees the new mode; after them, a
//          child moves the shared
//          offset (lseek through the inherited fd) and opens the file by
//          name and reads it whole; the parent then sees the child's
//          offset and goes on.
//   dir:   the files are made in a directory o the program makes first
//          (as compile's and link's in the go command's $WORK/bNNN: the
//          client knows their names missing, so it posts the creations)
//   trunc: ftruncate changes the size: to the size written after the
//          first writes (as the go command writes each build cache
//          entry), and now and then a round cuts the file's end off or
//          grows it with zeros
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIMIT (256 << 10)

static unsigned char model[LIMIT];
static long size;

static void fail(const char *what, int file, int round) {
	printf("MISMATCH %s file %d round %d\n", what, file, round);
	exit(1);
}

static void put(int fd, long off, const unsigned char *b, long n, int positional) {
	long w = positional ? pwrite(fd, b, n, off) : write(fd, b, n);
	if (w != n) {
		perror("write");
		exit(2);
	}
	memcpy(model + off, b, n);
	if (off + n > size)
		size = off + n;
}

static void resize(int fd, long to) {
	if (ftruncate(fd, to) != 0) {
		perror("ftruncate");
		exit(2);
	}
	if (to > size)
		memset(model + size, 0, to - size);
	size = to;
}

static void child(int fd, const char *name) {
	if (lseek(fd, 123, SEEK_SET) != 123)
		_exit(3);
	int rd = open(name, O_RDONLY);
	static unsigned char b[LIMIT];
	long n = rd < 0 ? -1 : read(rd, b, sizeof b);
	if (n != size || memcmp(b, model, size) != 0)
		_exit(4);
	_exit(0);
}

static void *idle(void *arg) {
	for (;;)
		pause();
	return arg;
}

int main(int argc, char **argv) {
	if (argc < 3)
		return 2;
	int files = atoi(argv[1]), rounds = atoi(argv[2]);
	const char *modes = argc > 3 ? argv[3] : "";
	int share = strstr(modes, "share") != NULL, slow = strstr(modes, "slow") != NULL;
	int trunc = strstr(modes, "trunc") != NULL;
	const char *dir = "";
	if (strstr(modes, "dir") != NULL) {
		dir = "o/";
		if (mkdir("o", 0755) != 0) {
			perror("mkdir o");
			return 2;
		}
	}
	pthread_t th;
	if (strstr(modes, "threads") != NULL && pthread_create(&th, NULL, idle, NULL) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 2;
	}
	unsigned char piece[1000], b[LIMIT];
	for (int f = 0; f < files; f++) {
		char name[32];
		snprintf(name, sizeof name, "%sout%d", dir, f);
		int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			perror("open");
			return 2;
		}
		struct stat st, end;
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0 || st.st_nlink != 1)
			fail("fstat after the open", f, 0);
		if (f == 0 && share) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(chmod(name, 0604) == 0 ? 0 : 5);
			int ws;
			if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
				fail("chmod child", f, 0);
			if (fstat(fd, &st) != 0 || (st.st_mode & 07777) != 0604)
				fail("fstat after a chmod", f, 0);
		}
		size = 0;
		for (int i = 0; i < 65; i++) {
			memset(piece, 'a' + (i + f) % 26, sizeof piece);
			put(fd, size, piece, sizeof piece, 0);
		}
		if (trunc)
			resize(fd, size);
		if (f == 0 && share) {
			pid_t pid = fork();
			if (pid == 0)
				child(fd, name);
			int st;
			if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				fail("child", f, WEXITSTATUS(st));
			if (lseek(fd, 0, SEEK_CUR) != 123)
				fail("shared offset", f, 0);
		}
		for (int r = 0; r < rounds; r++) {
			long at = (r * 7919L) % (size - 200);
			if (lseek(fd, at, SEEK_SET) != at)
				fail("lseek set", f, r);
			if (read(fd, b, 64) != 64 || memcmp(b, model + at, 64) != 0)
				fail("read", f, r);
			if (lseek(fd, 16, SEEK_CUR) != at + 80)
				fail("lseek cur", f, r);
			unsigned char patch[8];
			memset(patch, '0' + r % 10, sizeof patch);
			put(fd, at + 80, patch, sizeof patch, 0);
			if (r % 7 == 3)
				put(fd, at + 40, patch, 4, 1);
			if (pread(fd, b, 24, at + 72) != 24 || memcmp(b, model + at + 72, 24) != 0)
				fail("pread", f, r);
			if (lseek(fd, 0, SEEK_END) != size)
				fail("lseek end", f, r);
			if (r % 16 == 0 && size + 100 < LIMIT) {
				memset(piece, 'A' + r % 26, 100);
				put(fd, size, piece, 100, 0);
			}
			if (trunc && r % 11 == 5 && size > 4000)
				resize(fd, size - 150);
			else if (trunc && r % 11 == 9 && size + 50 < LIMIT)
				resize(fd, size + 50);
			if (r % 5 == 0) {
				// Past the end: 0 bytes.
				if (pread(fd, b, 10, size + 10) != 0)
					fail("pread past end", f, r);
			}
			if (slow)
				usleep(300);
		}
		if (lseek(fd, 0, SEEK_SET) != 0 || read(fd, b, sizeof b) != size || memcmp(b, model, size) != 0)
			fail("final read", f, rounds);
		if (f == 0 && (fstat(fd, &end) != 0 || end.st_ino != st.st_ino || end.st_dev != st.st_dev || end.st_size != size))
			fail("fstat at the end", f, rounds);
		unsigned long sum = 0;
		for (long i = 0; i < size; i++)
			sum = sum * 31 + b[i];
		printf("%s %ld %lx\n", name, size, sum);
		close(fd);
	}
	return 0;
}
