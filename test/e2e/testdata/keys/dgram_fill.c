// Fills a non-blocking AF_UNIX datagram socketpair until EAGAIN with
// datagrams of a few sizes (as LTP's sendfile07 does with one byte), then
// checks when it is writable again: as many datagrams fit as Linux's
// per-datagram buffer charge allows, not as many bytes.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
	static char buf[4096];
	int sizes[] = {1, 100, 1000, 4000};
	for (int s = 0; s < 4; s++) {
		int p[2];
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, p) < 0) {
			perror("socketpair");
			return 1;
		}
		int n = 0;
		while (write(p[1], buf, sizes[s]) == sizes[s])
			n++;
		int werr = errno;
		struct pollfd pf = {.fd = p[1], .events = POLLOUT};
		int ready = poll(&pf, 1, 0);
		// Read until the writer polls writable again.
		int reads = 0;
		while (reads < n && read(p[0], buf, sizeof buf) >= 0) {
			reads++;
			if (poll(&pf, 1, 0) == 1)
				break;
		}
		printf("%d-byte datagrams: %d fit (%s), writable: %d; writable again after %d reads\n", sizes[s], n,
		       werr == EAGAIN ? "EAGAIN" : strerror(werr), ready, reads);
		close(p[0]);
		close(p[1]);
	}
	// sendfile to a full socketpair fails with EAGAIN (sendfile07).
	int p[2];
	socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, p);
	while (write(p[1], "a", 1) == 1) {
	}
	int in = open("in", O_CREAT | O_TRUNC | O_RDWR, 0644);
	write(in, "0123456789", 10);
	lseek(in, 0, SEEK_SET);
	ssize_t r = sendfile(p[1], in, NULL, 1);
	printf("sendfile to the full pair: %zd (%s)\n", r, r < 0 ? strerror(errno) : "ok");
	return 0;
}
