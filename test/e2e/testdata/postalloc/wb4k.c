/* wb4k N: N appends of 4 KiB to a file it creates (O_CREAT|O_TRUNC|
   O_RDWR, as the benchmark's write4k loop: writes behind, the first
   1 MiB of them also kept in the client's owned copy), each checked. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2) return 2;
	long n = atol(argv[1]);
	char buf[4096];
	memset(buf, 'x', sizeof buf);
	int fd = open("wb4k.out", O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fd < 0) return 1;
	for (long i = 0; i < n; i++)
		if (write(fd, buf, sizeof buf) != sizeof buf) return 1;
	return close(fd);
}
