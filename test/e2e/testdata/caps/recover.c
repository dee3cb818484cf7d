// Changes its capabilities, then ticks (appending to ./ticks, so a test
// can kill the server meanwhile), then prints them: after a server
// recovery they must be what they were. Masks are limited to bits 0-23
// (see capsets.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOW 0xffffffu

int main(void) {
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	syscall(SYS_capget, &hdr, data);
	data[0].effective &= ~(1u << CAP_CHOWN);
	data[0].permitted &= ~(1u << CAP_KILL);
	data[0].effective &= ~(1u << CAP_KILL);
	data[0].inheritable = 1u << CAP_NET_RAW;
	syscall(SYS_capset, &hdr, data);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0);
	prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0);
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	setresuid(0, 0, 1000);
	close(open("owned", O_CREAT | O_WRONLY, 0600));

	int fd = open("ticks", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	for (int i = 0; i < 150; i++) {
		usleep(20000);
		write(fd, "x", 1);
	}

	syscall(SYS_capget, &hdr, data);
	printf("eff %06x prm %06x inh %06x\n", data[0].effective & LOW, data[0].permitted & LOW, data[0].inheritable & LOW);
	printf("ambient net_raw %d keepcaps %d bset sys_admin %d\n",
	       prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 0, 0), prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0),
	       prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0));
	uid_t r, e, s;
	getresuid(&r, &e, &s);
	printf("uids %d %d %d\n", r, e, s);
	int rc = chown("owned", 1234, 1234);
	printf("chown without CAP_CHOWN: %d %s\n", rc, rc < 0 ? strerror(errno) : "");
	unlink("owned");
	unlink("ticks");
	return 0;
}
