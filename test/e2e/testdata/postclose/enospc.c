// enospc DIR ROUNDS [close_range|sync_file_range]: in a directory whose
// file system is full, each round creates a file, writes one page to it
// (which cannot fit), syncs the page's range if asked (sync_file_range(2)
// that waits for the write-out), closes it (with close_range(2) if
// asked: Linux's returns no error), opens it again and fsyncs it twice. Linux reports the ENOSPC at
// the write (a local file system fails it at once); a sandbox that
// writes behind reports it at the close or the fsync. Either way it must
// be reported exactly once, and the second fsync must return 0: the
// output is the same.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int reported, other;

static void note(const char *round, const char *call, long r) {
	if (r >= 0)
		return;
	if (errno == ENOSPC)
		reported++;
	else
		other++;
	fprintf(stderr, "%s: %s: %s\n", round, call, strerror(errno));
}

int main(int argc, char **argv) {
	const char *mode = argc == 4 ? argv[3] : "";
	if (argc != 3 && (argc != 4 || (strcmp(mode, "close_range") != 0 && strcmp(mode, "sync_file_range") != 0))) {
		fprintf(stderr, "usage: enospc DIR ROUNDS [close_range|sync_file_range]\n");
		return 2;
	}
	int by_range = strcmp(mode, "close_range") == 0;
	int rounds = atoi(argv[2]);
	static char page[4096];
	memset(page, 'x', sizeof page);
	for (int i = 0; i < rounds; i++) {
		char path[4096], round[32];
		snprintf(path, sizeof path, "%s/f%d", argv[1], i);
		snprintf(round, sizeof round, "round %d", i);
		reported = other = 0;
		int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0) {
			perror("open");
			return 1;
		}
		long n = write(fd, page, sizeof page);
		note(round, "write", n < 0 ? -1 : 0);
		if (strcmp(mode, "sync_file_range") == 0)
			note(round, "sync_file_range", syscall(SYS_sync_file_range, fd, 0L, 4096L, 7));
		if (by_range)
			note(round, "close_range", syscall(SYS_close_range, fd, fd, 0));
		else
			note(round, "close", close(fd));
		fd = open(path, O_RDWR);
		if (fd < 0) {
			perror("reopen");
			return 1;
		}
		note(round, "fsync", fsync(fd));
		int second = fsync(fd);
		int second_errno = second < 0 ? errno : 0;
		close(fd);
		printf("%s: ENOSPC reported %d time(s), other errors %d, second fsync %s\n", round, reported, other,
		       second == 0 ? "0" : strerror(second_errno));
		if (unlink(path) < 0) {
			perror("unlink");
			return 1;
		}
	}
	return 0;
}
