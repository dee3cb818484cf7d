// Eight sendfiles of 12 MiB each (beyond what a write record carries)
// appended to one file; a server kill -9 may land in any of them. Prints
// each count, then the output's size and checksum.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define MB (1 << 20)

int main(void) {
	int in = open("in", O_CREAT | O_TRUNC | O_RDWR, 0644);
	char *chunk = malloc(MB);
	for (int i = 0; i < 12; i++) {
		for (int j = 0; j < MB; j++)
			chunk[j] = (char)(i * 13 + j / 512);
		if (write(in, chunk, MB) != MB) {
			perror("write");
			return 1;
		}
	}
	int out = open("out", O_CREAT | O_TRUNC | O_WRONLY, 0644);
	for (int i = 0; i < 8; i++) {
		off_t off = i;
		ssize_t n = sendfile(out, in, &off, 12 * MB);
		printf("copy %d: %zd\n", i, n);
		fflush(stdout);
	}
	close(out);
	int fd = open("out", O_RDONLY);
	uint32_t h = 2166136261u;
	ssize_t n;
	long long size = 0;
	while ((n = read(fd, chunk, MB)) > 0) {
		size += n;
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)chunk[i]) * 16777619u;
	}
	printf("out: %lld bytes, sum %08x\n", size, h);
	return 0;
}
