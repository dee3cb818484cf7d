// cases: sendfile and copy_file_range between regular files, with and
// without offsets, from short sources, at the end, into O_APPEND and
// read-only targets and within one file; prints each result, the
// offsets after it, and the target's contents. Its output natively and
// in the sandbox must be equal.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, long r, int in, int out, const char *path) {
	char buf[8192];
	int e = r < 0 ? errno : 0;
	long inoff = lseek(in, 0, SEEK_CUR), outoff = out >= 0 ? lseek(out, 0, SEEK_CUR) : -1;
	int fd = open(path, O_RDONLY);
	long n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
	unsigned h = 2166136261u;
	for (long i = 0; i < n; i++)
		h = (h ^ (unsigned char)buf[i]) * 16777619u;
	if (fd >= 0)
		close(fd);
	printf("%-40s = %ld (%s) in@%ld out@%ld; %s: %ld bytes, fnv %08x\n", what, r, e ? strerror(e) : "ok", inoff, outoff,
	       path, n, h);
}

int main(void) {
	char src[5000];
	for (int i = 0; i < (int)sizeof src; i++)
		src[i] = 'a' + (i * 7 + i / 26) % 26;
	int w = open("src", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (w < 0 || write(w, src, sizeof src) != sizeof src || close(w) != 0) {
		perror("src");
		return 1;
	}
	int in = open("src", O_RDONLY);
	struct stat st;
	fstat(in, &st); // brings a read lease in the sandbox
	printf("src: %ld bytes\n", (long)st.st_size);
	int out = open("o1", O_WRONLY | O_CREAT | O_EXCL, 0644);
	long r = sendfile(out, in, NULL, 700);
	show("sendfile(o1, src, NULL, 700)", r, in, out, "o1");
	r = sendfile(out, in, NULL, 1300);
	show("sendfile(o1, src, NULL, 1300)", r, in, out, "o1");
	off_t off = 4500;
	r = sendfile(out, in, &off, 2000);
	printf("  off now %ld\n", (long)off);
	show("sendfile(o1, src, &4500, 2000) short", r, in, out, "o1");
	off = 9000;
	r = sendfile(out, in, &off, 10);
	printf("  off now %ld\n", (long)off);
	show("sendfile(o1, src, &9000, 10) past end", r, in, out, "o1");
	lseek(in, 4990, SEEK_SET);
	r = sendfile(out, in, NULL, 100);
	show("sendfile(o1, src@4990, NULL, 100) short", r, in, out, "o1");
	r = sendfile(out, in, NULL, 100);
	show("sendfile(o1, src@end, NULL, 100)", r, in, out, "o1");
	lseek(in, 10, SEEK_SET);
	r = sendfile(out, in, NULL, 0);
	show("sendfile(o1, src@10, NULL, 0)", r, in, out, "o1");
	int fs = fsync(out);
	printf("fsync(o1) = %d, close(o1) = %d\n", fs, close(out));

	out = open("o2", O_RDWR | O_CREAT | O_EXCL, 0644);
	lseek(in, 0, SEEK_SET);
	r = copy_file_range(in, NULL, out, NULL, 1000, 0);
	show("copy_file_range(src, NULL, o2, NULL, 1000)", r, in, out, "o2");
	loff_t oi = 3000, oo = 200;
	r = copy_file_range(in, &oi, out, &oo, 500, 0);
	printf("  oi %ld oo %ld\n", (long)oi, (long)oo);
	show("copy_file_range(src, &3000, o2, &200, 500)", r, in, out, "o2");
	oo = 8000;
	r = copy_file_range(in, NULL, out, &oo, 64, 0);
	printf("  oo %ld\n", (long)oo);
	show("copy_file_range(src, NULL, o2, &8000, 64)", r, in, out, "o2");
	oi = 4900;
	r = copy_file_range(in, &oi, out, NULL, 5000, 0);
	printf("  oi %ld\n", (long)oi);
	show("copy_file_range(src, &4900, o2, NULL, 5000)", r, in, out, "o2");
	r = copy_file_range(in, NULL, out, NULL, 10, 1);
	show("copy_file_range flags 1", r, in, out, "o2");
	char pread_buf[16] = {0};
	printf("pread(o2, 8, 196) = %ld: %.8s\n", (long)pread(out, pread_buf, 8, 196), pread_buf);
	printf("close(o2) = %d\n", close(out));

	out = open("o3", O_WRONLY | O_CREAT | O_APPEND, 0644);
	r = sendfile(out, in, NULL, 10);
	show("sendfile(o3 O_APPEND, src, NULL, 10)", r, in, out, "o3");
	r = copy_file_range(in, NULL, out, NULL, 10, 0);
	show("copy_file_range(src, NULL, o3 O_APPEND)", r, in, out, "o3");
	close(out);
	out = open("o1", O_RDONLY);
	r = sendfile(out, in, NULL, 10);
	show("sendfile(o1 read-only, src, NULL, 10)", r, in, out, "o1");
	close(out);
	int rw = open("src", O_RDWR);
	lseek(in, 0, SEEK_SET);
	r = sendfile(rw, in, NULL, 10);
	show("sendfile(src O_RDWR, src, NULL, 10)", r, in, rw, "src");
	close(rw);
	r = sendfile(-1, in, NULL, 10);
	show("sendfile(-1, src, NULL, 10)", r, in, -1, "src");
	close(in);
	return 0;
}
