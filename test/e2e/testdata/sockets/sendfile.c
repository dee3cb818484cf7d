// sendfile from a file to a socket, to a pipe and to a regular file, with
// and without an offset pointer.
#include <fcntl.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("sf-src");
	int f = open("sf-src", O_CREAT | O_RDWR | O_TRUNC, 0644);
	char data[100000];
	for (size_t i = 0; i < sizeof data; i++) data[i] = 'a' + i % 23;
	write(f, data, sizeof data);
	lseek(f, 0, SEEK_SET);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	TRYN("sendfile to a socket", sendfile(sv[0], f, NULL, 1000));
	printf("file offset now %ld\n", (long)lseek(f, 0, SEEK_CUR));
	char buf[2000];
	ssize_t n = read(sv[1], buf, sizeof buf);
	printf("socket got %zd, same %d\n", n, memcmp(buf, data, 1000) == 0);
	off_t off = 99000;
	TRYN("sendfile with offset past the end", sendfile(sv[0], f, &off, 5000));
	printf("offset %ld, file offset %ld\n", (long)off, (long)lseek(f, 0, SEEK_CUR));
	n = read(sv[1], buf, sizeof buf);
	printf("socket got %zd, same %d\n", n, memcmp(buf, data + 99000, 1000) == 0);
	int p[2];
	pipe(p);
	off = 10;
	TRYN("sendfile to a pipe", sendfile(p[1], f, &off, 300));
	n = read(p[0], buf, sizeof buf);
	printf("pipe got %zd, same %d\n", n, memcmp(buf, data + 10, 300) == 0);
	TRYN("sendfile at end of file", sendfile(sv[0], f, &(off_t){100000}, 10));
	TRY("sendfile from a pipe", sendfile(sv[0], p[0], NULL, 10));
	TRY("sendfile negative offset", sendfile(sv[0], f, &(off_t){-1}, 10));
	TRY("sendfile bad fd", sendfile(sv[0], 99, NULL, 10));
	int out = open("sf-dst", O_RDWR | O_CREAT | O_TRUNC, 0644);
	off = 20;
	TRYN("sendfile to a file", sendfile(out, f, &off, 700));
	printf("offset %ld, out offset %ld\n", (long)off, (long)lseek(out, 0, SEEK_CUR));
	char back[700];
	TRYN("pread back", pread(out, back, sizeof back, 0));
	printf("same %d\n", memcmp(back, data + 20, 700) == 0);
	int app = open("sf-dst", O_WRONLY | O_APPEND);
	TRY("sendfile to an O_APPEND file", sendfile(app, f, NULL, 10));
	unlink("sf-dst");
	unlink("sf-src");
	return 0;
}
