/* wbmerge N: N writes of 4 KiB to a file it creates (O_CREAT|O_TRUNC|
   O_WRONLY), block i filled with the byte i % 251, each checked: a loop
   whose writes behind the client merges. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2) return 2;
	long n = atol(argv[1]);
	char buf[4096];
	int fd = open("wbmerge.out", O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0) return 1;
	for (long i = 0; i < n; i++) {
		memset(buf, (int)(i % 251), sizeof buf);
		if (write(fd, buf, sizeof buf) != sizeof buf) return 1;
	}
	return close(fd);
}
