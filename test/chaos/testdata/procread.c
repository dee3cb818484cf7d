// procread ROUNDS [slow]: reads /proc/self/cgroup and /proc/self/mountinfo
// as every Go program does at its start, and /proc/self/environ, to the
// end in pieces of 37 bytes (reads that straddle lines), ROUNDS times.
// Each file's pieces must be what one read of the whole file through
// another open returned just before and just after, and a read past the
// end must return nothing: a read at a wrong offset would cut or repeat
// bytes. environ is then read again from its start, by lseek and read
// and by pread. A file that changed between the two whole reads is read again
// (mountinfo may: other processes' mounts natively, on a busy host, and a
// server restart under do renumbers mounts), up to 20 times; environ
// cannot change, and the program runs with more than 500 bytes of it
// (it executes itself again with a padding variable if need be).
// With "slow", round N creates an empty file rN in the current directory
// after the first piece of environ (progress a test can see), then sleeps
// 100 ms after each of its first three pieces: a server killed then
// finds the file open mid-way, and the client recovers before its last
// pieces. Prints only the rounds it checked, so its output is the native
// one.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 17], before[1 << 17], after[1 << 17];
static int slow, round;

// wholeRead reads path in one read into to and returns its length.
static long wholeRead(const char *path, char *to) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long n = fd < 0 ? -1 : read(fd, to, sizeof before);
	if (n < 0 || n == (long)sizeof before) {
		fprintf(stderr, "%s: whole read failed\n", path);
		exit(1);
	}
	close(fd);
	return n;
}

// pieces reads path to the end in pieces of 37 bytes into buf and returns
// its length (slow: see above, for environ).
static long pieces(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	long total = 0;
	ssize_t n;
	int piece = 0;
	while ((n = read(fd, buf + total, 37)) > 0) {
		total += n;
		if (total > (long)sizeof buf - 64) {
			fprintf(stderr, "%s: too long\n", path);
			exit(1);
		}
		if (!slow || strstr(path, "environ") == NULL || ++piece > 3)
			continue;
		if (piece == 1) {
			char name[32];
			snprintf(name, sizeof name, "r%d", round);
			int m = open(name, O_WRONLY | O_CREAT, 0644);
			if (m < 0) {
				perror(name);
				exit(1);
			}
			close(m);
		}
		usleep(100000);
	}
	if (n < 0 || read(fd, buf + total, 37) != 0) {
		fprintf(stderr, "%s: read past the end\n", path);
		exit(1);
	}
	if (strstr(path, "environ") != NULL) {
		// Back to the start: the content is taken again (the same:
		// environ does not change), and a pread reads inside it.
		char again[37];
		long want = total < 37 ? total : 37;
		if (lseek(fd, 0, SEEK_SET) != 0 || read(fd, again, 37) != want || memcmp(again, buf, want) != 0 ||
		    pread(fd, again, 5, 3) != 5 || memcmp(again, buf + 3, 5) != 0) {
			fprintf(stderr, "%s: read again from the start\n", path);
			exit(1);
		}
	}
	close(fd);
	return total;
}

// check checks path's content read in pieces (see above).
static void check(const char *path) {
	for (int try = 0; try < 20; try++) {
		long b = wholeRead(path, before), n = pieces(path), a = wholeRead(path, after);
		if (a != b || memcmp(after, before, b) != 0)
			continue;
		if (n != b || memcmp(buf, before, n) != 0) {
			fprintf(stderr, "%s: read in pieces: %ld bytes, whole: %ld bytes, not the same\n", path, n, b);
			exit(1);
		}
		return;
	}
	fprintf(stderr, "%s: changed under every try\n", path);
	exit(1);
}

int main(int argc, char **argv, char **envp) {
	long env = 0;
	for (char **e = envp; *e; e++)
		env += strlen(*e) + 1;
	if (env < 500 && getenv("PROCREAD_PAD") == NULL) {
		char pad[600];
		memset(pad, 'p', sizeof pad - 1);
		pad[sizeof pad - 1] = 0;
		setenv("PROCREAD_PAD", pad, 1);
		execv("/proc/self/exe", argv);
		perror("execv");
		return 1;
	}
	int rounds = argc > 1 ? atoi(argv[1]) : 1;
	slow = argc > 2 && strcmp(argv[2], "slow") == 0;
	for (round = 1; round <= rounds; round++) {
		check("/proc/self/cgroup");
		check("/proc/self/mountinfo");
		check("/proc/self/environ");
	}
	printf("%d rounds checked\n", rounds);
	return 0;
}
