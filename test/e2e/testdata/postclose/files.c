// files DIR N: creates N files in DIR, each by open, one write and
// close, as a shell's `echo x > f` or an extractor does.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: files DIR N\n");
		return 2;
	}
	int n = atoi(argv[2]);
	for (int i = 0; i < n; i++) {
		char path[4096], line[64];
		snprintf(path, sizeof path, "%s/f%03d", argv[1], i);
		int len = snprintf(line, sizeof line, "file %d\n", i);
		int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0 || write(fd, line, len) != len || close(fd) != 0) {
			perror(path);
			return 1;
		}
	}
	return 0;
}
