// mq_notify's SIGEV_THREAD: glibc's (its callback runs in a new thread),
// then the raw system call's checks in Linux's order and the cookie a
// netlink socket receives (last byte 1 when the registration fires, 2
// when its owner removes it). One line per result, compared with a
// native run.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

// status prints the queue's status line without the pid (native and
// sandboxed pids differ): NOTIFY_PID says only whether there is one.
static void status(const char *what, int q) {
	char line[128] = {0};
	unsigned long qsize;
	int notify, signo, pid;
	if (pread(q, line, sizeof line - 1, 0) < 0 || sscanf(line, "QSIZE:%lu NOTIFY:%d SIGNO:%d NOTIFY_PID:%d", &qsize, &notify, &signo, &pid) != 4) {
		printf("%s: bad status line %s\n", what, line);
		return;
	}
	printf("%s: QSIZE:%lu NOTIFY:%d SIGNO:%d owner:%s\n", what, qsize, notify, signo, pid == getpid() ? "me" : pid ? "other" : "none");
	fflush(stdout);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int fired, fired_val, fired_main;
static pthread_t main_thread;

static void callback(union sigval v) {
	pthread_mutex_lock(&mu);
	fired++;
	fired_val = v.sival_int;
	fired_main = pthread_equal(pthread_self(), main_thread);
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

static unsigned char cookie[32];

static long raw_notify(int q, int sock, void *c) {
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_signo = sock;
	sev.sigev_value.sival_ptr = c;
	return syscall(SYS_mq_notify, q, &sev);
}

// recv_cookie receives what the netlink socket holds, without waiting.
static void recv_cookie(const char *what, int s) {
	unsigned char buf[64];
	struct sockaddr_nl from;
	socklen_t fl = sizeof from;
	memset(&from, 0xff, sizeof from);
	ssize_t n = recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	if (n < 0) {
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	} else {
		int same = n == 32 && memcmp(buf, cookie, 31) == 0;
		printf("%s = %zd bytes, cookie %s, byte 31 = %d, from family %d port %u\n", what, n, same ? "kept" : "changed",
		       buf[31], from.nl_family, from.nl_pid);
	}
	fflush(stdout);
}

int main(void) {
	char name[64];
	snprintf(name, sizeof name, "/rd-mqthread-%d", getpid());
	struct mq_attr a = {.mq_maxmsg = 3, .mq_msgsize = 16};
	char buf[16];
	main_thread = pthread_self();
	for (int i = 0; i < 32; i++)
		cookie[i] = i + 1;

	int q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	show("open", q >= 0 ? 0 : -1);
	mq_unlink(name);

	// glibc: the callback runs in a new thread once a message arrives.
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = callback;
	sev.sigev_value.sival_int = 42;
	show("glibc notify", mq_notify(q, &sev));
	status("registered", q);
	show("glibc notify busy", mq_notify(q, &sev));
	show("send", mq_send(q, "hi", 2, 0));
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 20;
	pthread_mutex_lock(&mu);
	while (!fired && pthread_cond_timedwait(&cv, &mu, &dl) == 0)
		;
	printf("callback ran %d time(s), value %d, in a new thread: %s\n", fired, fired_val, fired_main ? "no" : "yes");
	pthread_mutex_unlock(&mu);
	status("fired", q);
	show("receive", mq_receive(q, buf, sizeof buf, NULL));
	// Registered again then removed: glibc's helper takes the removal.
	show("glibc notify again", mq_notify(q, &sev));
	show("glibc remove", mq_notify(q, NULL));
	status("removed", q);

	// The raw call: the cookie and the socket are checked before the
	// queue descriptor.
	int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	int us = socket(AF_UNIX, SOCK_DGRAM, 0);
	int p[2];
	if (s < 0 || us < 0 || pipe(p) < 0) {
		perror("setup");
		return 1;
	}
	show("raw bad cookie", raw_notify(q, s, (void *)8));
	show("raw bad cookie and fd", raw_notify(q, -1, (void *)8));
	show("raw bad fd", raw_notify(q, 999, cookie));
	show("raw not a socket", raw_notify(q, p[0], cookie));
	show("raw unix socket", raw_notify(q, us, cookie));
	show("raw unix socket, not a queue", raw_notify(p[0], us, cookie));
	show("raw not a queue", raw_notify(p[0], s, cookie));
	show("raw bad queue", raw_notify(999, s, cookie));
	show("raw notify", raw_notify(q, s, cookie));
	show("raw notify busy", raw_notify(q, s, cookie));
	status("raw registered", q);
	recv_cookie("nothing yet", s);
	show("send", mq_send(q, "x", 1, 0));
	recv_cookie("fired", s);
	status("raw fired", q);
	show("send to a non-empty queue", mq_send(q, "y", 1, 0));
	show("receive", mq_receive(q, buf, sizeof buf, NULL));
	show("receive", mq_receive(q, buf, sizeof buf, NULL));

	// mq_notify(NULL) by the owner.
	show("raw notify", raw_notify(q, s, cookie));
	show("remove", mq_notify(q, NULL));
	recv_cookie("removed", s);
	recv_cookie("nothing more", s);

	// Another process's close leaves it; the owner's close of any fd of
	// the queue removes it.
	show("raw notify", raw_notify(q, s, cookie));
	pid_t child = fork();
	if (child == 0) {
		close(q);
		_exit(mq_notify(q, NULL) < 0 ? 0 : 1);
	}
	int st;
	waitpid(child, &st, 0);
	printf("child exit %d\n", WEXITSTATUS(st));
	recv_cookie("after the child's close", s);
	status("still registered", q);
	int q2 = dup(q);
	close(q2);
	recv_cookie("after the owner's close", s);
	status("closed", q);

	// The registration holds its socket: a cookie still goes to it
	// after its fd was closed (through a dup, to read it).
	int s2 = dup(s);
	show("raw notify", raw_notify(q, s2, cookie));
	close(s2);
	show("send", mq_send(q, "z", 1, 0));
	recv_cookie("through the socket's other fd", s);
	close(q);
	return 0;
}
