// The interface ioctls (SIOCGIF*) on an AF_INET and an AF_UNIX socket:
// every interface SIOCGIFCONF lists, described by name and by index,
// then the errors. Run natively it describes the host's interfaces.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

static const char *in(struct sockaddr *sa) {
	return inet_ntoa(((struct sockaddr_in *)sa)->sin_addr);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int u = socket(AF_UNIX, SOCK_STREAM, 0);
	struct ifconf ifc = {0};
	TRY("ifconf length", ioctl(s, SIOCGIFCONF, &ifc));
	printf("length is whole records %d\n", ifc.ifc_len > 0 && ifc.ifc_len % (int)sizeof(struct ifreq) == 0);
	struct ifreq reqs[32];
	ifc.ifc_len = sizeof reqs;
	ifc.ifc_req = reqs;
	TRY("ifconf", ioctl(s, SIOCGIFCONF, &ifc));
	int n = ifc.ifc_len / sizeof(struct ifreq);
	for (int i = 0; i < n; i++) {
		struct ifreq r;
		printf("if %s addr %s\n", reqs[i].ifr_name, in(&reqs[i].ifr_addr));
		memset(&r, 0, sizeof r);
		strcpy(r.ifr_name, reqs[i].ifr_name);
		TRY("  index", ioctl(s, SIOCGIFINDEX, &r));
		int idx = r.ifr_ifindex;
		printf("  index matches if_nametoindex %d\n", idx == (int)if_nametoindex(reqs[i].ifr_name));
		memset(&r, 0, sizeof r);
		r.ifr_ifindex = idx;
		TRY("  name", ioctl(s, SIOCGIFNAME, &r));
		printf("  name %s\n", r.ifr_name);
		TRY("  flags", ioctl(u, SIOCGIFFLAGS, &r));
		printf("  up %d loopback %d running %d\n", !!(r.ifr_flags & IFF_UP), !!(r.ifr_flags & IFF_LOOPBACK),
		       !!(r.ifr_flags & IFF_RUNNING));
		TRY("  mtu", ioctl(s, SIOCGIFMTU, &r));
		printf("  mtu positive %d\n", r.ifr_mtu > 0);
		TRY("  addr", ioctl(s, SIOCGIFADDR, &r));
		printf("  addr %s family %d\n", in(&r.ifr_addr), r.ifr_addr.sa_family);
		TRY("  netmask", ioctl(s, SIOCGIFNETMASK, &r));
		printf("  netmask %s\n", in(&r.ifr_netmask));
		TRY("  hwaddr", ioctl(s, SIOCGIFHWADDR, &r));
		printf("  hw family %d\n", r.ifr_hwaddr.sa_family);
	}
	struct ifreq bad = {0};
	strcpy(bad.ifr_name, "nosuchif0");
	TRY("unknown name", ioctl(s, SIOCGIFFLAGS, &bad));
	bad.ifr_ifindex = 9999;
	TRY("unknown index", ioctl(s, SIOCGIFNAME, &bad));
	int fd = open("/", O_RDONLY);
	TRY("not a socket", ioctl(fd, SIOCGIFFLAGS, &bad));
	return 0;
}
