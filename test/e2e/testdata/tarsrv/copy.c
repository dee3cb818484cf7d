/* copy IN OUT: copies IN to OUT in 4 KiB reads and writes (as gzip or a
   compiler reads its input while writing its output), then prints the
   bytes copied and a checksum of OUT read back. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3) { fprintf(stderr, "usage: copy IN OUT\n"); return 2; }
	int in = open(argv[1], O_RDONLY), out = open(argv[2], O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (in < 0 || out < 0) { perror("open"); return 1; }
	char buf[4096];
	long n, total = 0;
	while ((n = read(in, buf, sizeof buf)) > 0) {
		if (write(out, buf, n) != n) { perror("write"); return 1; }
		total += n;
	}
	if (n < 0 || close(out) != 0) { perror("copy"); return 1; }
	int back = open(argv[2], O_RDONLY);
	unsigned long sum = 0;
	while ((n = read(back, buf, sizeof buf)) > 0)
		for (long i = 0; i < n; i++) sum = sum * 31 + (unsigned char)buf[i];
	printf("%ld bytes, checksum %lx\n", total, sum);
	return 0;
}
