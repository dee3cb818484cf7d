// othermade creator DIR | other DIR: the creator makes DIR/sig and
// DIR/d, unlinks DIR/d/x (ENOENT: its sandbox answers from its copy of
// d's complete names), makes DIR/sig/ready and waits for DIR/sig/made;
// the other waits for ready, makes DIR/d/x, then made. The creator's
// next unlink of DIR/d/x must remove it, as natively: the other's
// creation revoked the creator's lease on d's complete names before its
// reply. Last the creator unlinks it again (ENOENT). The same then with
// the name y in DIR/e, which the creator makes and chdirs into (its
// sandbox keeps e's copy for the working directory: Reply.cwd_ino), and
// unlinks as y; the other makes DIR/e/y between ready2 and made2.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char d[4096], x[4096], sig[2048], ready[4096], made[4096];
static char e[4096], y[4096], ready2[4096], made2[4096];

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

// waitfor waits until path exists, polling with open(O_WRONLY), which
// no sandbox answers from a lease.
static int waitfor(const char *path) {
	for (int i = 0; i < 120000; i++) {
		int fd = open(path, O_WRONLY);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(1000);
	}
	printf("timed out waiting for %s\n", path);
	return 1;
}

int main(int argc, char **argv) {
	if (argc != 3)
		return 2;
	snprintf(d, sizeof d, "%s/d", argv[2]);
	snprintf(x, sizeof x, "%s/x", d);
	snprintf(sig, sizeof sig, "%s/sig", argv[2]);
	snprintf(ready, sizeof ready, "%s/ready", sig);
	snprintf(made, sizeof made, "%s/made", sig);
	snprintf(e, sizeof e, "%s/e", argv[2]);
	snprintf(y, sizeof y, "%s/y", e);
	snprintf(ready2, sizeof ready2, "%s/ready2", sig);
	snprintf(made2, sizeof made2, "%s/made2", sig);
	if (strcmp(argv[1], "other") == 0) {
		if (waitfor(ready))
			return 1;
		int fd = open(x, O_WRONLY | O_CREAT | O_EXCL, 0644);
		printf("other: create d/x: %s\n", err(fd));
		close(fd);
		close(open(made, O_WRONLY | O_CREAT, 0644));
		if (waitfor(ready2))
			return 1;
		fd = open(y, O_WRONLY | O_CREAT | O_EXCL, 0644);
		printf("other: create e/y: %s\n", err(fd));
		close(fd);
		close(open(made2, O_WRONLY | O_CREAT, 0644));
		return 0;
	}
	mkdir(sig, 0755);
	printf("creator: mkdir d: %s\n", err(mkdir(d, 0755)));
	printf("creator: unlink d/x: %s\n", err(unlink(x)));
	close(open(ready, O_WRONLY | O_CREAT, 0644));
	if (waitfor(made))
		return 1;
	printf("creator: unlink d/x after the other made it: %s\n", err(unlink(x)));
	printf("creator: unlink d/x again: %s\n", err(unlink(x)));
	printf("creator: mkdir e: %s\n", err(mkdir(e, 0755)));
	printf("creator: chdir e: %s\n", err(chdir(e)));
	printf("creator: unlink y: %s\n", err(unlink("y")));
	close(open(ready2, O_WRONLY | O_CREAT, 0644));
	if (waitfor(made2))
		return 1;
	printf("creator: unlink y after the other made it: %s\n", err(unlink("y")));
	printf("creator: unlink y again: %s\n", err(unlink("y")));
	return 0;
}
