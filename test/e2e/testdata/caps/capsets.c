// capget/capset/prctl round trips for root: version probing, the capset
// rules, the bounding and ambient sets, and a dropped capability making a
// privileged operation fail. Masks are printed limited to bits 0-23: a
// host container may lack CAP_SYS_RESOURCE (24) and later ones.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOW 0xffffffu

static struct __user_cap_header_struct hdr;
static struct __user_cap_data_struct data[2];

static long capget_(int version, int pid, void *d) {
	hdr.version = version;
	hdr.pid = pid;
	return syscall(SYS_capget, &hdr, d);
}

static long capset_(void) {
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	hdr.pid = 0;
	return syscall(SYS_capset, &hdr, data);
}

static void show(const char *what, long r) {
	printf("%s: %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
}

static void sets(const char *what) {
	capget_(_LINUX_CAPABILITY_VERSION_3, 0, data);
	printf("%s: eff %06x prm %06x inh %06x\n", what, data[0].effective & LOW, data[0].permitted & LOW,
	       data[0].inheritable & LOW);
}

int main(void) {
	show("capget bad version", capget_(0x1234, 0, data));
	printf("version written back: %#x\n", hdr.version);
	show("capget probe (NULL data)", capget_(_LINUX_CAPABILITY_VERSION_3, 0, NULL));
	show("capget pid -1", capget_(_LINUX_CAPABILITY_VERSION_3, -1, data));
	show("capget missing pid", capget_(_LINUX_CAPABILITY_VERSION_3, 999999, data));
	show("capget v1", capget_(_LINUX_CAPABILITY_VERSION_1, getpid(), data));
	printf("v1 eff %06x\n", data[0].effective & LOW);
	sets("initial");

	show("bset read CAP_CHOWN", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0));
	show("bset read 99", prctl(PR_CAPBSET_READ, 99, 0, 0, 0));
	show("bset drop CAP_SYS_ADMIN", prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0));
	show("bset read CAP_SYS_ADMIN", prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0));

	show("get keepcaps", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	show("set keepcaps 2", prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
	show("set keepcaps 1", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	show("get keepcaps", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	show("get securebits", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	show("set keepcaps 0", prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));

	show("ambient raise without inheritable", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0));
	capget_(_LINUX_CAPABILITY_VERSION_3, 0, data);
	data[0].inheritable |= 1u << CAP_NET_RAW;
	show("capset inheritable +CAP_NET_RAW", capset_());
	show("ambient raise", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0));
	show("ambient is_set", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 0, 0));
	show("ambient bad arg", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 1, 0));
	show("ambient bad op", prctl(PR_CAP_AMBIENT, 9, CAP_NET_RAW, 0, 0));
	capget_(_LINUX_CAPABILITY_VERSION_3, 0, data);
	data[0].inheritable = 0;
	show("capset inheritable 0", capset_());
	show("ambient is_set after", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 0, 0));
	show("ambient clear all", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));

	// Drop CAP_KILL from permitted: it cannot come back.
	capget_(_LINUX_CAPABILITY_VERSION_3, 0, data);
	data[0].permitted &= ~(1u << CAP_KILL);
	data[0].effective &= ~(1u << CAP_KILL);
	show("capset drop CAP_KILL", capset_());
	data[0].permitted |= 1u << CAP_KILL;
	show("capset raise CAP_KILL again", capset_());
	data[0].permitted &= ~(1u << CAP_KILL);
	data[0].effective |= 1u << CAP_KILL;
	show("capset effective beyond permitted", capset_());
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	hdr.pid = 54321; // not the caller: Linux refuses without looking it up
	show("capset other pid", syscall(SYS_capset, &hdr, data));
	sets("after capsets");

	// Without CAP_CHOWN in effective, chown to another user fails; with
	// it back (it is still permitted) it works.
	int fd = open("capfile", O_CREAT | O_WRONLY | O_TRUNC, 0600);
	close(fd);
	capget_(_LINUX_CAPABILITY_VERSION_3, 0, data);
	data[0].effective &= ~(1u << CAP_CHOWN);
	show("capset drop effective CAP_CHOWN", capset_());
	show("chown without CAP_CHOWN", chown("capfile", 1234, 1234));
	data[0].effective |= 1u << CAP_CHOWN;
	show("capset raise effective CAP_CHOWN", capset_());
	show("chown with CAP_CHOWN", chown("capfile", 1234, 1234));

	// A file of another user with mode 0600: readable with
	// CAP_DAC_READ_SEARCH, writable only with CAP_DAC_OVERRIDE.
	data[0].effective &= ~(1u << CAP_DAC_OVERRIDE);
	show("capset drop CAP_DAC_OVERRIDE", capset_());
	fd = open("capfile", O_RDONLY);
	show("open for read", fd < 0 ? fd : 0);
	close(fd);
	show("open for write", open("capfile", O_WRONLY));
	data[0].effective &= ~(1u << CAP_DAC_READ_SEARCH);
	show("capset drop CAP_DAC_READ_SEARCH", capset_());
	show("open for read", open("capfile", O_RDONLY));
	data[0].effective &= ~(1u << CAP_SETPCAP);
	show("capset drop CAP_SETPCAP", capset_());
	show("bset drop without CAP_SETPCAP", prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0));
	unlink("capfile");
	return 0;
}
