// racer creator DIR file|dir|mkdir | other DIR file|dir|mkdir: the creator unlinks
// DIR/n (ENOENT: its sandbox keeps the name's absence under a lease),
// makes DIR/sig/ready and waits for DIR/sig/made (signals in another
// directory: a name made in DIR would end the lease); the other waits
// for ready, makes DIR/n (a file, or a directory), then made. The
// creator then opens DIR/n with O_CREAT (and O_EXCL for a file):
// EEXIST, or EISDIR for the directory, as natively. A sandbox whose
// lease on the name's absence was not revoked by the other's creation
// would post the open and tell the creator it made the file. Last, the
// creator does the same with DIR/m, which no one else makes: that open
// succeeds (and is posted in a sandbox). With mkdir, the other makes a
// directory and the creator's calls are mkdirs: EEXIST for n, and m's
// succeeds (posted in a sandbox).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char n[4096], m[4096], sig[2048], ready[4096], made[4096];

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

// waitfor waits until path exists; wronly polls with open(O_WRONLY),
// which no sandbox answers from a lease.
static int waitfor(const char *path, int wronly) {
	struct stat st;
	for (int i = 0; i < 120000; i++) {
		if (wronly) {
			int fd = open(path, O_WRONLY);
			if (fd >= 0) {
				close(fd);
				return 0;
			}
		} else if (stat(path, &st) == 0) {
			return 0;
		}
		usleep(1000);
	}
	printf("timed out waiting for %s\n", path);
	return 1;
}

int main(int argc, char **argv) {
	if (argc != 4)
		return 2;
	int mk = strcmp(argv[3], "mkdir") == 0;
	int dir = mk || strcmp(argv[3], "dir") == 0;
	snprintf(n, sizeof n, "%s/n", argv[2]);
	snprintf(m, sizeof m, "%s/m", argv[2]);
	snprintf(sig, sizeof sig, "%s/sig", argv[2]);
	snprintf(ready, sizeof ready, "%s/ready", sig);
	snprintf(made, sizeof made, "%s/made", sig);
	if (strcmp(argv[1], "other") == 0) {
		if (waitfor(ready, 0))
			return 1;
		if (dir) {
			printf("other: mkdir n: %s\n", err(mkdir(n, 0755)));
		} else {
			int fd = open(n, O_WRONLY | O_CREAT | O_EXCL, 0644);
			printf("other: create n: %s, write: %zd\n", err(fd), fd < 0 ? -1 : write(fd, "theirs\n", 7));
			close(fd);
		}
		close(open(made, O_WRONLY | O_CREAT, 0644));
		return 0;
	}
	mkdir(sig, 0755);
	printf("creator: unlink n: %s\n", err(unlink(n)));
	printf("creator: unlink n again: %s\n", err(unlink(n)));
	close(open(ready, O_WRONLY | O_CREAT, 0644));
	if (waitfor(made, 1))
		return 1;
	int flags = O_WRONLY | O_CREAT | (dir ? 0 : O_EXCL);
	int fd = -1;
	if (mk)
		printf("creator: mkdir n: %s\n", err(mkdir(n, 0755)));
	else
		fd = open(n, flags, 0644);
	if (!mk)
		printf("creator: open n O_CREAT%s: %s\n", dir ? "" : "|O_EXCL", err(fd));
	if (fd >= 0) {
		printf("creator: write: %zd\n", write(fd, "mine\n", 5));
		close(fd);
	}
	char buf[32] = {0};
	int rfd = open(n, O_RDONLY);
	ssize_t got = rfd < 0 ? -1 : read(rfd, buf, sizeof buf - 1);
	printf("creator: read n: %zd %s\n", got, got > 0 ? buf : "\n");
	close(rfd);
	printf("creator: unlink n: %s\n", err(dir ? rmdir(n) : unlink(n)));
	printf("creator: unlink m: %s\n", err(unlink(m)));
	if (mk) {
		printf("creator: mkdir m: %s\n", err(mkdir(m, 0755)));
		return 0;
	}
	fd = open(m, O_WRONLY | O_CREAT | O_EXCL, 0644);
	printf("creator: open m O_CREAT|O_EXCL: %s\n", err(fd));
	close(fd);
	return 0;
}
