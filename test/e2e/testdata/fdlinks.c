// fdlinks prints what readlink of /proc/self/fd/N gives for kernel-object
// files: anon_inode:[name] for eventfd and epoll, socket:[inode] (the
// fstat inode) for sockets, pipe:[inode] for pipes and the stdio
// streams, which must not share a pipe's number.
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
static void show(int fd) {
	char link[64], t[128];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, t, sizeof t - 1);
	t[n < 0 ? 0 : n] = 0;
	char *b = strchr(t, '[');
	struct stat st;
	fstat(fd, &st);
	char ino[32];
	snprintf(ino, sizeof ino, "[%lu]", (unsigned long)st.st_ino);
	// sockets: the number is the inode; anon inodes: a fixed name.
	printf("%.*s %s\n", b ? (int)(b - t) : (int)n, t, b && strcmp(b, ino) == 0 ? "[ino]" : (b ? b : ""));
}
// pipes: stdin, stdout and stderr (three pipes when the test runs the
// program natively) and a pipe's two ends: each link names its fstat
// inode; the four pipes have four numbers on one device (pipefs), the
// ends of one pipe one number.
static void pipes(void) {
	int p[2];
	if (pipe(p) != 0) return;
	int fds[] = {0, 1, 2, p[0], p[1]};
	struct stat st[5];
	for (int i = 0; i < 5; i++) {
		show(fds[i]);
		fstat(fds[i], &st[i]);
	}
	int distinct = 0, sameDev = 1;
	for (int i = 0; i < 4; i++) {
		int dup = 0;
		for (int j = 0; j < i; j++) dup |= st[i].st_ino == st[j].st_ino;
		distinct += !dup;
		sameDev &= st[i].st_dev == st[0].st_dev;
	}
	printf("pipes: %d distinct inodes of 4, one device %d, ends share one %d\n", distinct, sameDev,
	       st[3].st_ino == st[4].st_ino && st[3].st_dev == st[4].st_dev);
}
int main(void) {
	int sv[2];
	show(eventfd(0, 0));
	show(epoll_create1(0));
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	show(sv[0]);
	show(socket(AF_INET, SOCK_STREAM, 0));
	pipes();
	return 0;
}
