// fdlinks prints what readlink of /proc/self/fd/N gives for kernel-object
// files: anon_inode:[name] for eventfd and epoll, socket:[inode] (the
// fstat inode) for sockets.
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
int main(void) {
	int sv[2];
	show(eventfd(0, 0));
	show(epoll_create1(0));
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	show(sv[0]);
	show(socket(AF_INET, SOCK_STREAM, 0));
	return 0;
}
