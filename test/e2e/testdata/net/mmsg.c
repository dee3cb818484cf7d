// sendmmsg and recvmmsg over an AF_UNIX datagram pair, a stream pair and
// loopback UDP.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "common.h"

#define N 3

static void sendsome(const char *what, int fd, struct sockaddr *to, socklen_t tolen) {
	struct mmsghdr m[N];
	struct iovec iov[N][2];
	static const char *parts[N][2] = {{"one", "-a"}, {"two", ""}, {"three", "-ccc"}};
	memset(m, 0, sizeof m);
	for (int i = 0; i < N; i++) {
		iov[i][0].iov_base = (void *)parts[i][0];
		iov[i][0].iov_len = strlen(parts[i][0]);
		iov[i][1].iov_base = (void *)parts[i][1];
		iov[i][1].iov_len = strlen(parts[i][1]);
		m[i].msg_hdr.msg_iov = iov[i];
		m[i].msg_hdr.msg_iovlen = 2;
		m[i].msg_hdr.msg_name = to;
		m[i].msg_hdr.msg_namelen = tolen;
	}
	int n = sendmmsg(fd, m, N, 0);
	printf("%s sendmmsg: %d errno %d lens", what, n, n < 0 ? errno : 0);
	for (int i = 0; i < N; i++) printf(" %u", m[i].msg_len);
	printf("\n");
}

static void recvsome(const char *what, int fd, int vlen, int flags, struct timespec *ts) {
	struct mmsghdr m[8];
	struct iovec iov[8];
	char bufs[8][32];
	memset(m, 0, sizeof m);
	memset(bufs, 0, sizeof bufs);
	for (int i = 0; i < 8; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof bufs[i] - 1;
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	errno = 0;
	int n = recvmmsg(fd, m, vlen, flags, ts);
	printf("%s recvmmsg: %d errno %d:", what, n, n < 0 ? errno : 0);
	for (int i = 0; i < n; i++) printf(" [%u %s]", m[i].msg_len, bufs[i]);
	printf("\n");
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int sv[2];
	TRY("socketpair dgram", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	sendsome("unix dgram", sv[0], NULL, 0);
	recvsome("unix dgram", sv[1], 2, 0, NULL);
	recvsome("unix dgram rest", sv[1], 8, MSG_DONTWAIT, NULL);
	recvsome("unix dgram empty", sv[1], 8, MSG_DONTWAIT, NULL);
	sendsome("unix dgram", sv[0], NULL, 0);
	recvsome("unix dgram waitforone", sv[1], 8, MSG_WAITFORONE, NULL);
	TRYN("sendmmsg vlen 0", sendmmsg(sv[0], NULL, 0, 0));
	TRY("sendmmsg bad fd", sendmmsg(99, NULL, 1, 0));
	TRY("sendmmsg not a socket", sendmmsg(1, (struct mmsghdr[1]){0}, 1, 0));
	struct timespec bad = {0, 2000000000L};
	TRY("recvmmsg bad timeout", recvmmsg(sv[1], (struct mmsghdr[1]){0}, 1, 0, &bad));

	int st[2];
	TRY("socketpair stream", socketpair(AF_UNIX, SOCK_STREAM, 0, st));
	sendsome("unix stream", st[0], NULL, 0);
	recvsome("unix stream", st[1], 1, 0, NULL);

	int u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	TRY("bind", bind(v, (struct sockaddr *)&a, sizeof a));
	socklen_t al = sizeof a;
	getsockname(v, (struct sockaddr *)&a, &al);
	sendsome("udp", u, (struct sockaddr *)&a, sizeof a);
	struct timespec ts = {1, 0};
	recvsome("udp", v, 8, MSG_WAITFORONE, &ts);
	recvsome("udp empty", v, 8, MSG_DONTWAIT, NULL);
	return 0;
}
