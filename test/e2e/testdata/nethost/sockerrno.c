// The errnos of LTP's socket cases (socket01, socketpair01, bind02,
// connect03, accept03, epoll_ctl06, recv01, recvfrom01, recvmsg01,
// sendto01, send01, getsockopt01), compared with a native run: a raw
// socket without a protocol, inet socketpairs, a privileged port bound by
// root and by a non-root user, a datagram socket connecting to a stream
// socket's path, a socket node without write permission, receive and
// send flags, a stream's source address, option levels, and accept and
// epoll_ctl on an O_PATH fd.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TRY(what, expr)                                                          \
	do {                                                                     \
		errno = 0;                                                       \
		long r_ = (long)(expr);                                          \
		printf("%s: %ld errno %d\n", what, r_ < 0 ? -1L : 0L, r_ < 0 ? errno : 0); \
	} while (0)

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	TRY("raw, no protocol", socket(AF_INET, SOCK_RAW, 0));
	TRY("raw6, no protocol", socket(AF_INET6, SOCK_RAW, 0));
	TRY("udp stream", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
	TRY("tcp dgram", socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
	int sv[2];
	TRY("socketpair raw", socketpair(AF_INET, SOCK_RAW, 0, sv));
	TRY("socketpair udp", socketpair(AF_INET, SOCK_DGRAM, IPPROTO_UDP, sv));
	TRY("socketpair tcp dgram", socketpair(AF_INET, SOCK_DGRAM, IPPROTO_TCP, sv));
	TRY("socketpair tcp", socketpair(AF_INET6, SOCK_STREAM, 0, sv));
	TRY("socketpair icmp stream", socketpair(AF_INET, SOCK_STREAM, IPPROTO_ICMP, sv));

	struct sockaddr_in priv;
	memset(&priv, 0, sizeof priv);
	priv.sin_family = AF_INET;
	priv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	priv.sin_port = htons(1);
	int sp = socket(AF_INET, SOCK_STREAM, 0);
	TRY("bind port 1 as root", bind(sp, (struct sockaddr *)&priv, sizeof priv));
	close(sp);

	mkdir("open", 0777);
	chmod("open", 0777);
	if (chdir("open") < 0) return 1;
	if (seteuid(65534) < 0) return 1;
	TRY("raw as nobody", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	struct sockaddr_in in;
	memset(&in, 0, sizeof in);
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in.sin_port = htons(80);
	int s4 = socket(AF_INET, SOCK_STREAM, 0);
	TRY("bind port 80 as nobody", bind(s4, (struct sockaddr *)&in, sizeof in));
	in.sin_port = 0;
	TRY("bind port 0 as nobody", bind(s4, (struct sockaddr *)&in, sizeof in));

	struct sockaddr_un un;
	memset(&un, 0, sizeof un);
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, "sock");
	unlink("sock");
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	TRY("bind unix as nobody", bind(ls, (struct sockaddr *)&un, sizeof un));
	TRY("listen", listen(ls, 4));
	int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
	TRY("dgram connect to stream", connect(dg, (struct sockaddr *)&un, sizeof un));
	TRY("dgram sendto stream", sendto(dg, "x", 1, 0, (struct sockaddr *)&un, sizeof un));
	chmod("sock", 0500);
	int st = socket(AF_UNIX, SOCK_STREAM, 0);
	TRY("connect to 0500 node", connect(st, (struct sockaddr *)&un, sizeof un));
	chmod("sock", 0700);
	TRY("connect to 0700 node", connect(st, (struct sockaddr *)&un, sizeof un));
	if (seteuid(0) < 0) return 1;
	unlink("sock");

	// A loopback TCP connection and a UDP socket: receive flags,
	// source addresses of a stream, option levels (LTP recv01,
	// recvfrom01, recvmsg01, sendto01, send01, getsockopt01).
	int tl = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in ta;
	memset(&ta, 0, sizeof ta);
	ta.sin_family = AF_INET;
	ta.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t tal = sizeof ta;
	if (bind(tl, (struct sockaddr *)&ta, sizeof ta) < 0 || listen(tl, 1) < 0 || getsockname(tl, (struct sockaddr *)&ta, &tal) < 0) return 1;
	int tc = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(tc, (struct sockaddr *)&ta, sizeof ta) < 0) return 1;
	int ts = accept(tl, NULL, NULL);
	char rb[16];
	TRY("recv MSG_ERRQUEUE", recv(ts, rb, sizeof rb, MSG_ERRQUEUE | MSG_DONTWAIT));
	TRY("recv MSG_OOB, none urgent", recv(ts, rb, sizeof rb, MSG_OOB));
	TRY("send", send(tc, "abcdef", 6, 0));
	struct sockaddr_in from;
	socklen_t froml = (socklen_t)-1;
	TRY("recvfrom tcp, addrlen -1", recvfrom(ts, rb, 3, 0, (struct sockaddr *)&from, &froml));
	froml = sizeof from;
	TRY("recvfrom tcp", recvfrom(ts, rb, 3, 0, (struct sockaddr *)&from, &froml));
	printf("recvfrom tcp addrlen: %d\n", (int)froml);
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	TRY("recvmsg MSG_CMSG_COMPAT", recvmsg(ts, &mh, 0x80000000 | MSG_DONTWAIT));
	// Control messages on inet sockets: AF_UNIX's are ignored, as is
	// any IP level on TCP; a malformed one is EINVAL.
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cb;
	struct iovec iov = {.iov_base = "zz", .iov_len = 2};
	struct cmsghdr *cm = (struct cmsghdr *)cb.buf;
	int passfd = 0;
	memset(&cb, 0, sizeof cb);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cb.buf;
	mh.msg_controllen = sizeof cb.buf;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(cm), &passfd, sizeof passfd);
	TRY("sendmsg tcp SCM_RIGHTS", sendmsg(tc, &mh, 0));
	cm->cmsg_level = IPPROTO_IP;
	cm->cmsg_type = IP_TOS;
	TRY("sendmsg tcp IP_TOS", sendmsg(tc, &mh, 0));
	cm->cmsg_len = 4;
	TRY("sendmsg tcp short cmsg", sendmsg(tc, &mh, 0));
	TRY("recv the control messages' data", recv(ts, rb, sizeof rb, 0));
	int us = socket(AF_INET, SOCK_DGRAM, 0);
	TRY("sendto udp MSG_OOB", sendto(us, "x", 1, MSG_OOB, (struct sockaddr *)&ta, sizeof ta));
	int ov = 0;
	socklen_t ol = sizeof ov;
	TRY("getsockopt level 500", getsockopt(tc, 500, SO_OOBINLINE, &ov, &ol));
	TRY("setsockopt level 500", setsockopt(tc, 500, SO_OOBINLINE, &ov, sizeof ov));
	TRY("getsockopt tcp at IPPROTO_UDP", getsockopt(tc, IPPROTO_UDP, 1, &ov, &ol));
	TRY("getsockopt udp at IPPROTO_TCP", getsockopt(us, IPPROTO_TCP, TCP_NODELAY, &ov, &ol));
	TRY("getsockopt udp at IPPROTO_UDP, bad name", getsockopt(us, IPPROTO_UDP, 500, &ov, &ol));
	TRY("getsockopt IP, bad name", getsockopt(us, IPPROTO_IP, -1, &ov, &ol));
	TRY("getsockopt SO_OOBINLINE to NULL", getsockopt(tc, SOL_SOCKET, SO_OOBINLINE, NULL, &ol));
	unsigned int big = 0xffffff00;
	TRY("SO_SNDBUFFORCE negative", setsockopt(us, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big));
	ol = sizeof ov;
	getsockopt(us, SOL_SOCKET, SO_SNDBUF, &ov, &ol);
	printf("SO_SNDBUF after: negative %d\n", ov < 0);
	int t6 = socket(AF_INET6, SOCK_STREAM, 0);
	TRY("getsockopt tcp6 level 500", getsockopt(t6, 500, 1, &ov, &ol));
	close(t6);
	close(us);
	close(ts);
	close(tc);
	close(tl);

	int op = open(".", O_PATH);
	int reg = open("file", O_CREAT | O_RDWR, 0644);
	TRY("accept on O_PATH", accept(op, NULL, NULL));
	TRY("accept on a file", accept(reg, NULL, NULL));
	TRY("getsockname on O_PATH", getsockname(op, NULL, NULL));
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	TRY("epoll_ctl O_PATH target", epoll_ctl(ep, EPOLL_CTL_ADD, op, &ev));
	TRY("epoll_ctl on a file", epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev));
	TRY("epoll_ctl O_PATH epfd", epoll_ctl(op, EPOLL_CTL_ADD, reg, &ev));
	unlink("file");
	return 0;
}
