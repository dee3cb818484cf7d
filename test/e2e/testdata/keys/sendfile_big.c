// One sendfile of 40 MiB (more than one write record may carry) from a
// file to a regular file, at an explicit input offset and then from the
// input's own offset: the counts, the offsets and the copied bytes.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define MB (1 << 20)

static uint32_t sum(const char *path) {
	int fd = open(path, O_RDONLY);
	static char buf[1 << 16];
	uint32_t h = 2166136261u;
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 16777619u;
	close(fd);
	return h;
}

int main(void) {
	int in = open("in", O_CREAT | O_TRUNC | O_RDWR, 0644);
	char *chunk = malloc(MB);
	for (int i = 0; i < 48; i++) {
		for (int j = 0; j < MB; j++)
			chunk[j] = (char)(i * 7 + j / 4096);
		if (write(in, chunk, MB) != MB) {
			perror("write");
			return 1;
		}
	}
	int out = open("out", O_CREAT | O_TRUNC | O_WRONLY, 0644);
	off_t off = 3 * MB + 5;
	ssize_t n = sendfile(out, in, &off, 40 * MB);
	printf("sendfile at offset: %zd, offset now %lld, out at %lld\n", n, (long long)off, (long long)lseek(out, 0, SEEK_CUR));
	lseek(in, 20 * MB, SEEK_SET);
	n = sendfile(out, in, NULL, 40 * MB);
	printf("sendfile from the input's offset: %zd (to its end), input at %lld, out at %lld\n", n,
	       (long long)lseek(in, 0, SEEK_CUR), (long long)lseek(out, 0, SEEK_CUR));
	close(in);
	close(out);
	struct stat st;
	stat("out", &st);
	printf("out: %lld bytes, sum %08x\n", (long long)st.st_size, sum("out"));
	return 0;
}
