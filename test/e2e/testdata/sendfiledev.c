// sendfiledev: sendfile(2) from a regular file into each character
// device of /dev that takes writes: /dev/null, /dev/zero, /dev/urandom
// and /dev/random take it (their splice_write), /dev/full fails EINVAL;
// the count, errno and the in file's offset after.
#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <unistd.h>
int main(void) {
	const char *devs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random"};
	for (int i = 0; i < 5; i++) {
		int in = open("/etc/services", O_RDONLY), out = open(devs[i], O_WRONLY);
		errno = 0;
		ssize_t n = sendfile(out, in, NULL, 1000);
		printf("%s: %zd %d at %lld\n", devs[i], n, n < 0 ? errno : 0, (long long)lseek(in, 0, SEEK_CUR));
		close(in);
		close(out);
	}
	return 0;
}
