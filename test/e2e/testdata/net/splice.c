// splice, tee and copy_file_range between pipes, files and a socket.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common.h"

static void show(const char *what, int fd) {
	char buf[256] = {0};
	ssize_t n = read(fd, buf, sizeof buf - 1);
	printf("%s: %zd [%s]\n", what, n, n > 0 ? buf : "");
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	int fd = open("splice.src", O_RDWR | O_CREAT | O_TRUNC, 0644);
	TRYN("write src", write(fd, "0123456789abcdefghij", 20));
	TRYN("lseek", lseek(fd, 0, SEEK_SET));

	int p[2], q[2];
	TRY("pipe p", pipe(p));
	TRY("pipe q", pipe(q));
	// file -> pipe, at the file offset, then at an explicit offset.
	TRYN("splice file->pipe", splice(fd, NULL, p[1], NULL, 5, 0));
	TRYN("offset after", lseek(fd, 0, SEEK_CUR));
	loff_t off = 10;
	TRYN("splice file@10->pipe", splice(fd, &off, p[1], NULL, 3, 0));
	printf("off now %lld\n", (long long)off);
	TRYN("offset unchanged", lseek(fd, 0, SEEK_CUR));
	// tee copies p into q without consuming p.
	TRYN("tee", tee(p[0], q[1], 100, 0));
	show("q after tee", q[0]);
	// pipe -> pipe moves.
	TRYN("splice pipe->pipe", splice(p[0], NULL, q[1], NULL, 4, 0));
	show("q", q[0]);
	// pipe -> file at an offset.
	off = 30;
	TRYN("splice pipe->file@30", splice(p[0], NULL, fd, &off, 100, 0));
	printf("off now %lld\n", (long long)off);
	struct stat st;
	fstat(fd, &st);
	printf("size %lld\n", (long long)st.st_size);
	char buf[64] = {0};
	TRYN("pread 30", pread(fd, buf, 10, 30));
	printf("at 30: %s\n", buf);

	// pipe -> socket and socket -> pipe.
	int sv[2];
	TRY("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	TRYN("write p", write(p[1], "via socket", 10));
	TRYN("splice pipe->socket", splice(p[0], NULL, sv[0], NULL, 64, 0));
	TRYN("splice socket->pipe", splice(sv[1], NULL, q[1], NULL, 64, 0));
	show("q from socket", q[0]);

	// Errors.
	TRY("splice file->file", splice(fd, NULL, fd, NULL, 4, 0));
	int dir = open(".", O_RDONLY | O_DIRECTORY);
	TRY("splice dir->pipe", splice(dir, NULL, p[1], NULL, 4, 0));
	int efd = eventfd(0, 0);
	TRY("splice eventfd->pipe", splice(efd, NULL, p[1], NULL, 8, 0));
	TRY("splice pipe->eventfd", splice(p[0], NULL, efd, NULL, 8, SPLICE_F_NONBLOCK));
	off = 0;
	TRY("splice offset on a pipe", splice(p[0], &off, fd, NULL, 4, 0));
	TRY("splice same pipe", splice(p[0], NULL, p[1], NULL, 4, 0));
	TRY("splice bad flags", splice(fd, NULL, p[1], NULL, 4, 0x100));
	TRY("splice bad fd", splice(99, NULL, p[1], NULL, 4, 0));
	TRY("splice wrong direction", splice(p[1], NULL, q[1], NULL, 4, 0));
	TRY("splice empty nonblock", splice(p[0], NULL, q[1], NULL, 4, SPLICE_F_NONBLOCK));
	TRYN("splice zero", splice(fd, NULL, p[1], NULL, 0, 0));
	TRY("tee file", tee(fd, p[1], 4, 0));
	TRY("tee empty nonblock", tee(p[0], q[1], 4, SPLICE_F_NONBLOCK));
	close(q[0]);
	TRYN("write p", write(p[1], "x", 1));
	TRY("splice to readerless pipe", splice(p[0], NULL, q[1], NULL, 4, 0));
	close(p[1]);
	TRYN("splice pipe at eof", splice(p[0], NULL, fd, NULL, 4, 0));
	TRYN("splice last", splice(p[0], NULL, fd, NULL, 4, 0));

	// copy_file_range.
	int dst = open("splice.dst", O_RDWR | O_CREAT | O_TRUNC, 0644);
	TRYN("lseek src", lseek(fd, 0, SEEK_SET));
	TRYN("copy_file_range", copy_file_range(fd, NULL, dst, NULL, 8, 0));
	TRYN("src offset", lseek(fd, 0, SEEK_CUR));
	TRYN("dst offset", lseek(dst, 0, SEEK_CUR));
	loff_t oi = 10, oo = 100;
	TRYN("copy_file_range offsets", copy_file_range(fd, &oi, dst, &oo, 5, 0));
	printf("oi %lld oo %lld\n", (long long)oi, (long long)oo);
	fstat(dst, &st);
	printf("dst size %lld\n", (long long)st.st_size);
	memset(buf, 0, sizeof buf);
	TRYN("pread dst", pread(dst, buf, 8, 0));
	printf("dst: %s\n", buf);
	memset(buf, 0, sizeof buf);
	TRYN("pread dst 100", pread(dst, buf, 5, 100));
	printf("dst@100: %s\n", buf);
	oi = 1000;
	TRYN("copy_file_range past eof", copy_file_range(fd, &oi, dst, NULL, 5, 0));
	oi = 0; oo = 2;
	TRY("copy_file_range overlap", copy_file_range(fd, &oi, fd, &oo, 5, 0));
	TRY("copy_file_range flags", copy_file_range(fd, NULL, dst, NULL, 5, 1));
	TRY("copy_file_range pipe", copy_file_range(p[0], NULL, dst, NULL, 5, 0));
	int ro = open("splice.dst", O_RDONLY);
	TRY("copy_file_range read-only out", copy_file_range(fd, NULL, ro, NULL, 5, 0));
	int ap = open("splice.dst", O_WRONLY | O_APPEND);
	TRY("copy_file_range append out", copy_file_range(fd, NULL, ap, NULL, 5, 0));
	TRY("copy_file_range dir", copy_file_range(open(".", O_RDONLY | O_DIRECTORY), NULL, dst, NULL, 5, 0));
	unlink("splice.src");
	unlink("splice.dst");
	return 0;
}
