// wbkill DIR SYNC: in DIR, whose file system is full, write a page that
// cannot fit to two files: "closed" is then closed, "open" stays open.
// Then wait (in SYNC, a directory with room) until the test has killed
// the remote sentry and started another: the test waits for SYNC/ready
// and creates SYNC/go. Then fsync each file twice ("closed" through a
// new descriptor) and close them.
//
// Linux reports the ENOSPC at the write (a local file system fails it at
// once). A sandbox that writes behind told the application the write
// succeeded, and must report the error to the first fsync of each file,
// also when the server that kept it was killed after the client learnt
// of the failure: the error is in the client's replay state. Either way
// each file's error is reported exactly once, and its second fsync
// returns 0: the output is the same.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int reported, other;

static void note(const char *file, const char *call, long r) {
	if (r >= 0)
		return;
	if (errno == ENOSPC)
		reported++;
	else
		other++;
	fprintf(stderr, "%s: %s: %s\n", file, call, strerror(errno));
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: wbkill DIR SYNC\n");
		return 2;
	}
	static char page[4096];
	memset(page, 'x', sizeof page);
	char closed[4200], open_[4200], barrier[4200], ready[4200], go[4200];
	if (strlen(argv[1]) > 4000 || strlen(argv[2]) > 4000) {
		fprintf(stderr, "wbkill: path too long\n");
		return 2;
	}
	sprintf(closed, "%s/closed", argv[1]);
	sprintf(open_, "%s/open", argv[1]);
	sprintf(barrier, "%s/barrier", argv[2]);
	sprintf(ready, "%s/ready", argv[2]);
	sprintf(go, "%s/go", argv[2]);
	int counts[2][2] = {{0}};

	int cfd = open(closed, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	int ofd = open(open_, O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (cfd < 0 || ofd < 0) {
		perror("open");
		return 1;
	}
	reported = other = 0;
	note("closed", "write", write(cfd, page, sizeof page) < 0 ? -1 : 0);
	note("closed", "close", close(cfd));
	counts[0][0] += reported, counts[0][1] += other;
	reported = other = 0;
	note("open", "write", write(ofd, page, sizeof page) < 0 ? -1 : 0);
	counts[1][0] += reported, counts[1][1] += other;

	// An fsync of another file waits for every call made before it (and
	// their replies): the writes' failures are known to the sandbox's
	// client before the test kills its server.
	int bfd = open(barrier, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (bfd < 0 || fsync(bfd) < 0) {
		perror("barrier");
		return 1;
	}
	close(bfd);
	int rfd = open(ready, O_CREAT | O_WRONLY, 0644);
	if (rfd < 0) {
		perror("ready");
		return 1;
	}
	close(rfd);
	struct stat st;
	double start = now();
	while (stat(go, &st) != 0) {
		if (now() - start > 120) {
			fprintf(stderr, "wbkill: no %s\n", go);
			return 1;
		}
		usleep(10000);
	}

	int second[2];
	cfd = open(closed, O_RDWR);
	if (cfd < 0) {
		perror("reopen");
		return 1;
	}
	int fds[2] = {cfd, ofd};
	const char *names[2] = {"closed", "open"};
	for (int i = 0; i < 2; i++) {
		reported = other = 0;
		note(names[i], "fsync", fsync(fds[i]));
		second[i] = fsync(fds[i]) == 0 ? 0 : errno;
		note(names[i], "close", close(fds[i]));
		counts[i][0] += reported, counts[i][1] += other;
	}
	for (int i = 0; i < 2; i++)
		printf("%s: ENOSPC reported %d time(s), other errors %d, second fsync %s\n", names[i], counts[i][0],
		       counts[i][1], second[i] == 0 ? "0" : strerror(second[i]));
	return 0;
}
