/* hop: N forwarded calls that the server answers at once (umask), in two
   rounds; after each round it prints a line and waits for one on stdin,
   so that the test can read the daemons' counters between rounds. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2) return 2;
	long n = atol(argv[1]);
	char line[16];
	for (int round = 0; round < 2; round++) {
		for (long i = 0; i < n; i++) umask(022);
		if (write(1, "x\n", 2) != 2) return 1;
		if (read(0, line, sizeof line) <= 0) return 1;
	}
	return 0;
}
