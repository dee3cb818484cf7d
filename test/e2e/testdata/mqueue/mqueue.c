// POSIX message queues: one line per call's result, compared with a
// native run. Queue names carry the pid (not printed) and are unlinked.
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char names[4][64];

static void show(const char *what, long r) {
	if (r < 0)
		printf("%s = -1 %s\n", what, strerrorname_np(errno));
	else
		printf("%s = %ld\n", what, r);
	fflush(stdout);
}

static volatile int got_sig, got_code, got_val;
static void on_usr1(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_val = si->si_value.sival_int;
}
static void on_alrm(int sig) { (void)sig; }

int main(void) {
	for (int i = 0; i < 4; i++)
		snprintf(names[i], sizeof names[i], "/rd-mqtest-%d-%d", getpid(), i);
	struct mq_attr a = {.mq_maxmsg = 3, .mq_msgsize = 16}, o;
	char buf[64];
	unsigned prio;

	// Names and opening.
	show("open no slash", mq_open(names[0] + 1, O_RDWR));
	show("open raw slash inside", syscall(SYS_mq_open, "a/b", O_RDWR, 0, NULL));
	show("open raw empty", syscall(SYS_mq_open, "", O_RDWR, 0, NULL));
	show("open raw dot", syscall(SYS_mq_open, ".", O_RDWR | O_CREAT, 0600, NULL));
	memset(buf, 'x', 63);
	buf[63] = 0;
	char longname[300] = "/";
	for (int i = 1; i < 299; i++)
		longname[i] = 'n';
	longname[299] = 0;
	show("open long", mq_open(longname, O_RDWR | O_CREAT, 0600, NULL));
	show("open missing", mq_open(names[0], O_RDWR));
	// No free fd: EMFILE before the queue is made (Linux reserves the fd
	// first).
	struct rlimit rl, nofd = {0, 0};
	getrlimit(RLIMIT_NOFILE, &rl);
	nofd.rlim_max = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &nofd);
	show("open no fd", mq_open(names[0], O_RDWR | O_CREAT, 0600, NULL));
	setrlimit(RLIMIT_NOFILE, &rl);
	show("open after no fd", mq_open(names[0], O_RDWR));
	struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 16};
	show("open maxmsg 0", mq_open(names[0], O_RDWR | O_CREAT, 0600, &bad));
	bad.mq_maxmsg = 3, bad.mq_msgsize = 0;
	show("open msgsize 0", mq_open(names[0], O_RDWR | O_CREAT, 0600, &bad));
	bad.mq_maxmsg = 65537, bad.mq_msgsize = 16;
	show("open maxmsg 65537", mq_open(names[0], O_RDWR | O_CREAT, 0600, &bad));
	mqd_t q = mq_open(names[0], O_RDWR | O_CREAT | O_EXCL, 0640, &a);
	show("open create", q >= 0 ? 0 : -1);
	show("cloexec", fcntl(q, F_GETFD));
	show("flags", fcntl(q, F_GETFL));
	show("open excl", mq_open(names[0], O_RDWR | O_CREAT | O_EXCL, 0600, &a));
	show("open accmode 3", mq_open(names[0], O_RDWR | O_WRONLY));
	struct stat st;
	fstat(q, &st);
	printf("stat mode %o size %ld\n", st.st_mode, (long)st.st_size);
	mqd_t ro = mq_open(names[0], O_RDONLY);
	mqd_t wo = mq_open(names[0], O_WRONLY | O_NONBLOCK);
	show("open existing", ro >= 0 && wo >= 0 ? 0 : -1);

	// Attributes.
	show("getattr", mq_getattr(q, &o));
	printf("attr %ld %ld %ld %ld\n", o.mq_flags, o.mq_maxmsg, o.mq_msgsize, o.mq_curmsgs);
	show("getattr wo", mq_getattr(wo, &o));
	printf("attr %ld %ld %ld %ld\n", o.mq_flags, o.mq_maxmsg, o.mq_msgsize, o.mq_curmsgs);
	struct mq_attr na = {.mq_flags = O_NONBLOCK | O_APPEND};
	show("setattr bad flags", mq_setattr(q, &na, &o));
	show("getattr not a queue", mq_getattr(1, &o));
	show("getattr bad fd", mq_getattr(99, &o));

	// Send and receive: priorities, FIFO within one.
	show("send p1 a", mq_send(q, "a", 1, 1));
	show("send p5 b", mq_send(q, "bb", 2, 5));
	show("send p1 c", mq_send(q, "ccc", 3, 1));
	show("send full nonblock", mq_send(wo, "d", 1, 1));
	struct timespec past = {.tv_sec = 1};
	show("send full timeout", mq_timedsend(q, "d", 1, 1, &past));
	struct timespec badts = {.tv_sec = 1, .tv_nsec = 1000000000};
	show("send bad timespec", mq_timedsend(q, "d", 1, 1, &badts));
	show("send prio max", mq_send(q, "d", 1, 32768));
	show("send too big", mq_send(wo, buf, 17, 1));
	show("send on rdonly", mq_send(ro, "d", 1, 1));
	show("send not a queue", mq_send(1, "d", 1, 1));
	int n = read(q, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("read %d %s", n, buf);
	show("read again", read(q, buf, sizeof buf));
	show("getattr", mq_getattr(q, &o));
	printf("curmsgs %ld\n", o.mq_curmsgs);
	struct pollfd pfd = {.fd = q, .events = POLLIN | POLLOUT};
	show("poll full", poll(&pfd, 1, 0));
	printf("revents %#x\n", pfd.revents);
	show("receive small buffer", mq_receive(q, buf, 15, &prio));
	show("receive on wronly", mq_receive(wo, buf, 64, &prio));
	for (int i = 0; i < 3; i++) {
		n = mq_receive(ro, buf, 64, &prio);
		buf[n > 0 ? n : 0] = 0;
		printf("receive %d prio %u %s\n", n, prio, buf);
	}
	pfd.revents = 0;
	show("poll empty", poll(&pfd, 1, 0));
	printf("revents %#x\n", pfd.revents);
	na.mq_flags = O_NONBLOCK;
	show("setattr nonblock", mq_setattr(q, &na, &o));
	printf("old flags %ld\n", o.mq_flags);
	show("receive empty nonblock", mq_receive(q, buf, 64, &prio));
	na.mq_flags = 0;
	show("setattr block", mq_setattr(q, &na, NULL));
	show("receive empty timeout", mq_timedreceive(q, buf, 64, &prio, &past));

	// A blocked receive is interrupted by a signal without SA_RESTART.
	struct sigaction sa = {.sa_handler = on_alrm};
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	show("receive interrupted", mq_receive(q, buf, 64, &prio));

	// A blocked receive gets a message a child sends.
	pid_t pid = fork();
	if (pid == 0) {
		usleep(100000);
		_exit(mq_send(q, "child", 5, 7) == 0 ? 0 : 1);
	}
	n = mq_receive(q, buf, 64, &prio);
	buf[n > 0 ? n : 0] = 0;
	printf("receive from child %d prio %u %s\n", n, prio, buf);
	int status;
	waitpid(pid, &status, 0);
	printf("child status %d\n", status);

	// Notification: SIGEV_SIGNAL, one registration, fired once when a
	// message arrives on an empty queue.
	struct sigaction su = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &su, NULL);
	struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	sev.sigev_value.sival_int = 42;
	show("notify", mq_notify(q, &sev));
	show("notify busy", mq_notify(q, &sev));
	show("rewind", lseek(q, 0, SEEK_SET));
	n = read(q, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	char line[64];
	snprintf(line, sizeof line, "NOTIFY_PID:%-6d", getpid());
	printf("read notify %d %.40s pid %s\n", n, buf, strstr(buf, line) ? "self" : "other");
	sev.sigev_notify = 7;
	show("notify bad kind", mq_notify(q, &sev));
	sev.sigev_notify = SIGEV_SIGNAL, sev.sigev_signo = 65;
	show("notify bad signal", mq_notify(wo, &sev));
	show("notify not a queue", mq_notify(1, NULL));
	show("send fires", mq_send(q, "n", 1, 0));
	printf("signal %d code %d value %d\n", got_sig, got_code, got_val);
	got_sig = 0;
	show("receive", mq_receive(q, buf, 64, &prio));
	show("send again", mq_send(q, "n", 1, 0));
	printf("signal again %d\n", got_sig);
	show("notify none", mq_notify(q, &(struct sigevent){.sigev_notify = SIGEV_NONE}));
	show("notify remove", mq_notify(q, NULL));
	show("notify after remove", mq_notify(q, &(struct sigevent){.sigev_notify = SIGEV_NONE}));
	show("notify remove", mq_notify(q, NULL));

	// Closing any fd of the queue in the registering process drops its
	// registration (mqueue_flush_file); another process's close or exit
	// does not, the registering process's exit does.
	struct sigevent none = {.sigev_notify = SIGEV_NONE};
	mqd_t q2 = mq_open(names[0], O_RDONLY);
	show("notify for close", mq_notify(q, &none));
	show("close other fd", mq_close(q2));
	show("notify after close", mq_notify(q, &none));
	int d2 = dup(q);
	show("close dup", close(d2));
	show("notify after close dup", mq_notify(q, &none));
	d2 = dup(q);
	show("dup2 over dup", dup2(1, d2));
	show("notify after dup2", mq_notify(q, &none));
	d2 = dup(q);
	show("close_range dup", syscall(SYS_close_range, d2, d2, 0));
	show("notify after close_range", mq_notify(q, &none));
	pid_t cp = fork();
	if (cp == 0) {
		mq_close(q);
		_exit(0);
	}
	waitpid(cp, &status, 0);
	show("notify after child close", mq_notify(q, &none));
	show("notify remove", mq_notify(q, NULL));
	cp = fork();
	if (cp == 0)
		_exit(mq_notify(q, &none) == 0 ? 0 : 1);
	waitpid(cp, &status, 0);
	printf("child notify status %d\n", status);
	show("notify after child exit", mq_notify(q, &none));
	show("notify remove", mq_notify(q, NULL));

	// dup shares the description.
	int d = dup(q);
	show("getattr dup", mq_getattr(d, &o));
	printf("curmsgs %ld\n", o.mq_curmsgs);
	close(d);

	// Another user: permissions and unlink's sticky check.
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		show("user open rdwr", mq_open(names[0], O_RDWR));
		show("user unlink", mq_unlink(names[0]));
		struct mq_attr big = {.mq_maxmsg = 11, .mq_msgsize = 16};
		show("user open maxmsg 11", mq_open(names[1], O_RDWR | O_CREAT, 0600, &big));
		big.mq_maxmsg = 10, big.mq_msgsize = 8193;
		show("user open msgsize 8193", mq_open(names[1], O_RDWR | O_CREAT, 0600, &big));
		_exit(0);
	}
	waitpid(pid, &status, 0);
	printf("user child status %d\n", status);

	// Unlink: the queue lives on while open.
	show("unlink", mq_unlink(names[0]));
	show("unlink again", mq_unlink(names[0]));
	show("unlink raw slash inside", syscall(SYS_mq_unlink, "a/b"));
	show("open unlinked", mq_open(names[0], O_RDWR));
	show("receive after unlink", mq_receive(q, buf, 64, &prio));
	mq_close(q);
	mq_close(ro);
	mq_close(wo);
	return 0;
}
