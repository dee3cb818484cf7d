// Reads of AF_UNIX sockets that are not connected: a stream socket
// (never connected, or listening) fails with EINVAL, a seqpacket one
// with ENOTCONN; a connected stream socket whose peer closed reads end
// of file.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	char b[4];
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	TRYN("stream recv", recv(s, b, 4, MSG_DONTWAIT));
	TRYN("stream read", read(s, b, 4));
	int p[2];
	pipe(p);
	TRYN("stream splice", splice(s, NULL, p[1], NULL, 4, 0));
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strcpy(a.sun_path + 1, "unixrecv-test");
	bind(s, (struct sockaddr *)&a, sizeof(sa_family_t) + 1 + strlen("unixrecv-test"));
	listen(s, 1);
	TRYN("listening recv", recv(s, b, 4, MSG_DONTWAIT));
	int q = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	TRYN("seqpacket recv", recv(q, b, 4, MSG_DONTWAIT));
	int sp[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	close(sp[1]);
	TRYN("peer closed", read(sp[0], b, 4));
	return 0;
}
