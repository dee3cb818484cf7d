// /proc/sys/fs/mqueue in the sandbox only (a native run would change the
// host's limits): Linux's defaults, its bounds on writes, and mq_open
// under the limits written, with and without CAP_SYS_RESOURCE. The
// expected output is Linux's (ipc/mq_sysctl.c, ipc/mqueue.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static const char *files[] = {"queues_max", "msg_max", "msgsize_max", "msg_default", "msgsize_default"};

// mqfile is /proc/sys/fs/mqueue/<name> (in a buffer the next call
// reuses).
static const char *mqfile(const char *name) {
	static char path[128];
	snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", name);
	return path;
}

static long readmq(const char *name) { return readnum(mqfile(name)); }

static int writemq(const char *name, const char *s) { return writestr(mqfile(name), s); }

static char qname[64];

// attrs opens a new queue (attr NULL when maxmsg is 0) and prints its
// attributes, then removes it.
static void attrs(const char *what, long maxmsg, long msgsize) {
	struct mq_attr a = {.mq_maxmsg = maxmsg, .mq_msgsize = msgsize}, o;
	mqd_t q = mq_open(qname, O_RDWR | O_CREAT | O_EXCL, 0600, maxmsg ? &a : NULL);
	if (q < 0) {
		show(what, -1);
		return;
	}
	mq_getattr(q, &o);
	printf("%s = %ld %ld\n", what, o.mq_maxmsg, o.mq_msgsize);
	mq_close(q);
	mq_unlink(qname);
}

// userOpen is attrs as an unprivileged user, in a child.
static void userOpen(const char *what, long maxmsg, long msgsize) {
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		attrs(what, maxmsg, msgsize);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	snprintf(qname, sizeof qname, "/rd-mqsysctl-%d", getpid());
	for (int i = 0; i < 5; i++)
		printf("default %s = %ld\n", files[i], readmq(files[i]));
	attrs("open no attr", 0, 0);

	// Bounds: proc_dointvec_minmax's EINVAL.
	show("msg_max 0", writemq("msg_max", "0"));
	show("msg_max 65537", writemq("msg_max", "65537"));
	show("msgsize_max 127", writemq("msgsize_max", "127"));
	show("msgsize_max 16777217", writemq("msgsize_max", "16777217"));
	show("msg_default 0", writemq("msg_default", "0"));
	show("msgsize_default 127", writemq("msgsize_default", "127"));
	show("msg_max junk", writemq("msg_max", "abc"));
	show("msg_max 65536", writemq("msg_max", "65536"));
	show("msgsize_max 16777216", writemq("msgsize_max", "16777216"));
	printf("msg_max read = %ld\n", readmq("msg_max"));
	printf("msgsize_max read = %ld\n", readmq("msgsize_max"));

	// Defaults for a NULL attr, capped by the maxima.
	show("msg_default 5", writemq("msg_default", "5\n"));
	show("msgsize_default 256", writemq("msgsize_default", "256"));
	attrs("open defaults", 0, 0);
	show("msg_max 3", writemq("msg_max", "3"));
	show("msgsize_max 200", writemq("msgsize_max", "200"));
	attrs("open defaults capped", 0, 0);
	userOpen("user open 4", 4, 100);
	userOpen("user open 3", 3, 100);
	userOpen("user open size 201", 3, 201);
	attrs("root open 4", 4, 201);

	// queues_max: every queue counts, an unlinked open one too.
	show("queues_max 1", writemq("queues_max", "1"));
	mqd_t keep = mq_open("/rd-mqsysctl-keep", O_RDWR | O_CREAT, 0600, NULL);
	show("keep", keep < 0 ? -1 : 0);
	userOpen("user open at queues_max", 3, 100);
	mq_unlink("/rd-mqsysctl-keep");
	userOpen("user open unlinked counts", 3, 100);
	attrs("root open at queues_max", 3, 100);
	mq_close(keep);
	userOpen("user open after close", 3, 100);
	show("queues_max -1", writemq("queues_max", "-1"));
	printf("queues_max read = %ld\n", readmq("queues_max"));

	// Only root writes (the files are root's, 0644).
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		show("user write", writemq("msg_max", "5"));
		printf("user read = %ld\n", readmq("msg_max"));
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);

	writemq("queues_max", "256");
	writemq("msg_max", "10");
	writemq("msgsize_max", "8192");
	writemq("msg_default", "10");
	writemq("msgsize_default", "8192");
	return 0;
}
