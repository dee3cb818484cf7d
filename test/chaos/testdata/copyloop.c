// copyloop N: writes an archive of N members (a 512-byte header naming
// the size, the data, padding to 512) and extracts it as tar does, each
// member with sendfile or copy_file_range from the archive (at its
// offset or an explicit one, alternately) into a new file o/<i>, then
// checks every file. Under do, the copies come from the archive's read
// lease and are posted; the chaos harness kills the server meanwhile.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

static int sizeOf(int i) { return (i * 37) % 1500 + 1; }
static unsigned char byteOf(int i, int j) { return (unsigned char)(i * 131 + j * 7); }

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 100;
	char buf[2048];
	int arc = open("arc", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (int i = 0; i < n; i++) {
		int size = sizeOf(i);
		memset(buf, 0, 512);
		snprintf(buf, 512, "%d %d\n", i, size);
		int padded = (size + 511) / 512 * 512;
		for (int j = 0; j < padded; j++)
			buf[512 + j] = j < size ? byteOf(i, j) : 0;
		if (write(arc, buf, 512 + padded) != 512 + padded) {
			perror("write arc");
			return 1;
		}
	}
	if (close(arc) != 0 || mkdir("o", 0755) != 0) {
		perror("arc");
		return 1;
	}
	arc = open("arc", O_RDONLY);
	long moved = 0;
	for (int i = 0; i < n; i++) {
		int idx, size;
		if (read(arc, buf, 512) != 512 || sscanf(buf, "%d %d", &idx, &size) != 2 || idx != i) {
			fprintf(stderr, "member %d: bad header\n", i);
			return 1;
		}
		char name[64];
		snprintf(name, sizeof name, "o/%d", i);
		int out = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (out < 0) {
			perror(name);
			return 1;
		}
		off_t at = lseek(arc, 0, SEEK_CUR);
		loff_t oi = at, oo = 0;
		long done = 0;
		while (done < size) {
			long r;
			switch (i % 4) {
			case 0:
				r = sendfile(out, arc, NULL, size - done);
				break;
			case 1:
				r = copy_file_range(arc, NULL, out, NULL, size - done, 0);
				break;
			case 2:
				r = sendfile(out, arc, &at, size - done);
				break;
			default:
				r = copy_file_range(arc, &oi, out, &oo, size - done, 0);
				break;
			}
			if (r <= 0) {
				fprintf(stderr, "member %d: copy returned %ld at %ld\n", i, r, done);
				return 1;
			}
			done += r;
		}
		moved += done;
		// Past the data (and its explicit offset) and the padding.
		off_t end = (i % 4 >= 2 ? (i % 4 == 2 ? at : oi) : lseek(arc, 0, SEEK_CUR)) + ((size + 511) / 512 * 512 - size);
		if (lseek(arc, end, SEEK_SET) != end || close(out) != 0) {
			fprintf(stderr, "member %d: seek or close failed\n", i);
			return 1;
		}
	}
	close(arc);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof name, "o/%d", i);
		int fd = open(name, O_RDONLY);
		long r = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
		int ok = r == sizeOf(i);
		for (long j = 0; ok && j < r; j++)
			ok = (unsigned char)buf[j] == byteOf(i, j);
		if (!ok && bad++ < 5)
			printf("member %d: %ld bytes, wrong\n", i, r);
		close(fd);
	}
	printf("%d members, %ld bytes copied, %d wrong\n", n, moved, bad);
	return bad != 0;
}
