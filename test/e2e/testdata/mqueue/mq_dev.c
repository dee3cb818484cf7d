// /dev/mqueue as the view of the sandbox's queues (run in a container
// whose config.json mounts mqueue there; the host has none to compare
// with): readdir lists the queues, stat shows a queue's mode, owner and
// size 80, open(2) of an entry is an mq_open of the name (read gives the
// QSIZE line), O_CREAT makes a queue with the default attributes, and
// unlink is mq_unlink. The expected output is Linux's (ipc/mqueue.c).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(void) {
	char *names[64];
	int n = 0;
	DIR *d = opendir("/dev/mqueue");
	if (!d) {
		show("opendir", -1);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], cmp);
	printf("list =");
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
	fflush(stdout);
}

static void st(const char *path) {
	struct stat s;
	if (stat(path, &s) < 0) {
		show(path, -1);
		return;
	}
	printf("%s = %o size %ld uid %d\n", path, s.st_mode, (long)s.st_size, s.st_uid);
	fflush(stdout);
}

int main(void) {
	umask(022);
	mq_unlink("/q1");
	mq_unlink("/q2");
	st("/dev/mqueue");
	list();
	struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 64};
	mqd_t q1 = mq_open("/q1", O_CREAT | O_RDWR, 0640, &a);
	show("mq_send", mq_send(q1, "hello", 5, 1));
	list();
	st("/dev/mqueue/q1");
	int fd = open("/dev/mqueue/q1", O_RDONLY);
	char buf[128] = {0};
	show("read", read(fd, buf, sizeof buf - 1));
	printf("line = %s", buf);
	struct stat s;
	fstat(fd, &s);
	printf("fstat size = %ld\n", (long)s.st_size);
	struct mq_attr got;
	show("mq_getattr of open(2)'s fd", mq_getattr(fd, &got));
	printf("attr = %ld %ld %ld\n", got.mq_maxmsg, got.mq_msgsize, got.mq_curmsgs);
	unsigned prio;
	show("mq_receive on O_RDONLY", mq_receive(fd, buf, sizeof buf, &prio));
	close(fd);
	int fd2 = open("/dev/mqueue/q2", O_CREAT | O_EXCL | O_RDWR, 0666);
	show("create q2", fd2 < 0 ? -1 : 0);
	st("/dev/mqueue/q2");
	mq_getattr(fd2, &got);
	printf("q2 attr = %ld %ld\n", got.mq_maxmsg, got.mq_msgsize);
	show("create q2 again", open("/dev/mqueue/q2", O_CREAT | O_EXCL | O_RDWR, 0666));
	show("open missing", open("/dev/mqueue/nope", O_RDONLY));
	show("send through open(2)'s fd", mq_send(fd2, "x", 1, 0));
	mqd_t q2 = mq_open("/q2", O_RDONLY);
	show("receive through mq_open's", mq_receive(q2, buf, 8192, &prio));
	list();
	st("/dev/mqueue");
	show("unlink q1", unlink("/dev/mqueue/q1"));
	show("mq_open q1", mq_open("/q1", O_RDWR));
	show("send to unlinked q1", mq_send(q1, "y", 1, 0));
	st("/dev/mqueue/q1");
	list();
	pid_t pid = fork();
	if (pid == 0) {
		if (setuid(65534) < 0)
			_exit(1);
		show("user open q2 for writing", open("/dev/mqueue/q2", O_WRONLY));
		show("user open q2 for reading", open("/dev/mqueue/q2", O_RDONLY) < 0 ? -1 : 0);
		show("user unlink q2", unlink("/dev/mqueue/q2"));
		show("user create u1", open("/dev/mqueue/u1", O_CREAT | O_RDWR, 0600) < 0 ? -1 : 0);
		st("/dev/mqueue/u1");
		show("user unlink u1", unlink("/dev/mqueue/u1"));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	st("/dev/mqueue/q2");
	st("/dev/mqueue/q2");
	show("mq_unlink q2", mq_unlink("/q2"));
	st("/dev/mqueue/q2");
	show("unlink q2 again", unlink("/dev/mqueue/q2"));
	list();
	return 0;
}
