// twocopy writer DIR N | twocopy copier DIR: two processes (two
// sandboxes on one server) share DIR/src. The writer makes versions 1..N
// of it: truncate to 0, write S bytes of value v, for every third also
// truncate to S/2, then publish v in DIR/ver. The copier loops: read the
// published version p, open src, fstat it (a read lease in a sandbox),
// sendfile it whole into DIR/out, and check that out holds the count
// sendfile returned, each byte a value v >= p (of a state of src at or
// after the publication it saw; a copy racing with a write may mix two
// such versions, or see zeros where the write had not copied yet, on
// Linux too), or nothing. It prints its violations.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define S 3000

static char path[4096];

static const char *at(const char *dir, const char *name) {
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return path;
}

static int published(const char *dir) {
	char b[16] = {0};
	int fd = open(at(dir, "ver"), O_RDONLY);
	if (fd < 0 || pread(fd, b, 8, 0) != 8) {
		perror("ver");
		exit(1);
	}
	close(fd);
	return atoi(b);
}

static int writer(const char *dir, int n) {
	char buf[S];
	int ver = open(at(dir, "ver"), O_WRONLY);
	if (ver < 0) {
		perror("ver");
		return 1;
	}
	for (int v = 1; v <= n; v++) {
		int fd = open(at(dir, "src"), O_WRONLY);
		memset(buf, v, S);
		if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, buf, S, 0) != S || (v % 3 == 0 && ftruncate(fd, S / 2) != 0)) {
			perror("src");
			return 1;
		}
		close(fd);
		char b[16];
		snprintf(b, sizeof b, "%08d", v);
		if (pwrite(ver, b, 8, 0) != 8) {
			perror("publish");
			return 1;
		}
		usleep(3000);
	}
	printf("writer: %d versions\n", n);
	return 0;
}

static int copier(const char *dir, int n) {
	char buf[2 * S];
	int violations = 0, copies = 0, empty = 0, last = 0;
	for (int i = 0; last < 5; i++) {
		int p = published(dir);
		if (p >= n)
			last++;
		int in = open(at(dir, "src"), O_RDONLY);
		int out = open(at(dir, "out"), O_RDWR | O_CREAT | O_TRUNC, 0644);
		struct stat st;
		if (in < 0 || out < 0 || fstat(in, &st) != 0) {
			perror("open");
			return 1;
		}
		long r = sendfile(out, in, NULL, 2 * S);
		long m = pread(out, buf, sizeof buf, 0);
		close(in);
		if (close(out) != 0 || r < 0) {
			perror("sendfile");
			return 1;
		}
		int bad = m != r || (r != 0 && r != S && r != S / 2);
		long j = 0;
		while (j < m && !bad && ((unsigned char)buf[j] >= p || buf[j] == 0))
			j++;
		bad = bad || j < m;
		if (bad) {
			if (violations++ < 5)
				printf("copier: step %d: published %d, sendfile %ld, out %ld bytes, byte %ld is %d\n", i, p, r, m,
				       j, j < m ? (unsigned char)buf[j] : -1);
		}
		if (r == 0)
			empty++;
		else
			copies++;
	}
	printf("copier: %d violations\n", violations);
	fprintf(stderr, "copier: %d copies, %d empty\n", copies, empty);
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 4 && strcmp(argv[1], "writer") == 0)
		return writer(argv[2], atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "copier") == 0)
		return copier(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: twocopy writer|copier DIR N\n");
	return 2;
}
