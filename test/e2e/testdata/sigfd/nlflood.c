// A NETLINK_ROUTE socket asked for many dumps it never reads: its queue
// is bounded, the next recv fails once with ENOBUFS, then the answers
// that fit are read (as on Linux).
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int main(void) {
	int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	struct { struct nlmsghdr h; struct rtgenmsg g; } req = {{sizeof req, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, 0}, {AF_UNSPEC}};
	for (int i = 0; i < 5000; i++) send(s, &req, sizeof req, 0);
	char buf[65536];
	long r = recv(s, buf, sizeof buf, MSG_DONTWAIT);
	printf("first recv %ld errno %d\n", r, r < 0 ? errno : 0);
	int n = 0;
	while (recv(s, buf, sizeof buf, MSG_DONTWAIT) > 0) n++;
	printf("then some answers: %d\n", n > 0);
	return 0;
}
