// procstate checks what /proc shows about processes: a mapped file in
// /proc/self/maps, the states of children sleeping in a pipe read (served
// by the remote sentry), in nanosleep and futex wait (served by the client
// sentry) and of a zombie, task/, comm, fdinfo, and reopening an unlinked
// file through /proc/self/fd. Its output is the same natively.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int readfile(const char *path, char *buf, size_t n) {
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t got = 0, r;
	while (got < (ssize_t)n - 1 && (r = read(fd, buf + got, n - 1 - got)) > 0)
		got += r;
	close(fd);
	buf[got] = 0;
	return (int)got;
}

// state returns the state letter of /proc/<pid>/stat.
static char state(pid_t pid) {
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (readfile(path, buf, sizeof buf) < 0)
		return '?';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '!';
}

// waitState polls pid's state for want, as LTP's TST_PROCESS_STATE_WAIT.
static char waitState(pid_t pid, char want) {
	char s = '?';
	for (int i = 0; i < 1000; i++) {
		s = state(pid);
		if (s == want)
			break;
		usleep(10000);
	}
	return s;
}

static void checkMaps(void) {
	char path[] = "/tmp/procstate-map-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, "mapped file\n", 12) != 12) {
		perror("mkstemp/write");
		exit(1);
	}
	void *a = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	void *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (a == MAP_FAILED || s == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	static char maps[1 << 16];
	readfile("/proc/self/maps", maps, sizeof maps);
	struct stat st;
	fstat(fd, &st);
	int found = 0, inode = 0, perms = 0, shared = 0;
	for (char *line = strtok(maps, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long start;
		char pr[8];
		unsigned long long ino;
		if (sscanf(line, "%lx-%*x %7s %*x %*x:%*x %llu", &start, pr, &ino) != 3)
			continue;
		if (start == (unsigned long)a) {
			found = strstr(line, path) != NULL;
			inode = ino == (unsigned long long)st.st_ino;
			perms = strcmp(pr, "r--p") == 0;
		}
		if (start == (unsigned long)s)
			shared = strstr(line, path) != NULL && ino == (unsigned long long)st.st_ino && strcmp(pr, "rw-s") == 0;
	}
	printf("maps: path %d inode %d perms %d shared %d\n", found, inode, perms, shared);
	// The stack and the path column (74) as Linux formats them.
	readfile("/proc/self/maps", maps, sizeof maps);
	printf("maps: [stack] %d\n", strstr(maps, "[stack]") != NULL);
	munmap(a, 4096);
	munmap(s, 4096);
	unlink(path);
	close(fd);
}

static void checkStates(void) {
	printf("self: %c\n", state(getpid()));

	int p[2];
	if (pipe(p) < 0) {
		perror("pipe");
		exit(1);
	}
	pid_t reader = fork();
	if (reader == 0) {
		char c;
		close(p[1]);
		read(p[0], &c, 1); // blocks in the remote sentry
		_exit(0);
	}
	close(p[0]);
	printf("pipe read: %c\n", waitState(reader, 'S'));

	pid_t sleeper = fork();
	if (sleeper == 0) {
		struct timespec ts = {60, 0};
		nanosleep(&ts, NULL); // blocks in the client sentry
		_exit(0);
	}
	printf("nanosleep: %c\n", waitState(sleeper, 'S'));

	pid_t waiter = fork();
	if (waiter == 0) {
		static int word;
		syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		_exit(0);
	}
	printf("futex wait: %c\n", waitState(waiter, 'S'));

	pid_t pauser = fork();
	if (pauser == 0) {
		pause(); // the client sentry waits for a signal
		_exit(0);
	}
	printf("pause: %c\n", waitState(pauser, 'S'));

	pid_t poller = fork();
	if (poller == 0) {
		struct epoll_event ev;
		epoll_wait(epoll_create1(0), &ev, 1, -1); // blocks in the remote sentry
		_exit(0);
	}
	printf("epoll_wait: %c\n", waitState(poller, 'S'));

	pid_t spinner = fork();
	if (spinner == 0) {
		for (volatile unsigned long i = 0;; i++)
			;
	}
	printf("spinning: %c\n", waitState(spinner, 'R'));

	pid_t zombie = fork();
	if (zombie == 0)
		_exit(3);
	printf("zombie: %c\n", waitState(zombie, 'Z'));
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/cmdline", zombie);
	printf("zombie cmdline: %d bytes\n", readfile(path, buf, sizeof buf));
	snprintf(path, sizeof path, "/proc/%d/maps", zombie);
	printf("zombie maps: %d bytes\n", readfile(path, buf, sizeof buf));

	close(p[1]);
	kill(sleeper, SIGKILL);
	kill(waiter, SIGKILL);
	kill(spinner, SIGKILL);
	kill(pauser, SIGKILL);
	kill(poller, SIGKILL);
	int st;
	while (wait(&st) > 0)
		;
	snprintf(path, sizeof path, "/proc/%d/stat", zombie);
	printf("reaped: %s\n", access(path, F_OK) == 0 ? "still there" : strerror(errno));
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int started, done;
static pid_t workerTid;

static void *worker(void *arg) {
	(void)arg;
	pthread_mutex_lock(&mu);
	workerTid = (pid_t)syscall(SYS_gettid);
	started = 1;
	pthread_cond_broadcast(&cond);
	while (!done)
		pthread_cond_wait(&cond, &mu); // futex wait in the client sentry
	pthread_mutex_unlock(&mu);
	return NULL;
}

// checkThreads: a second thread blocked in a condition variable is listed
// in task/ with state S while the reading thread is R.
static void checkThreads(void) {
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	pthread_mutex_lock(&mu);
	while (!started)
		pthread_cond_wait(&cond, &mu);
	pthread_mutex_unlock(&mu);
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	printf("threads listed: %d\n", n);
	char path[64], buf[1024];
	char s = '?';
	for (int i = 0; i < 1000 && s != 'S'; i++) {
		snprintf(path, sizeof path, "/proc/self/task/%d/stat", workerTid);
		if (readfile(path, buf, sizeof buf) > 0) {
			char *p = strrchr(buf, ')');
			s = p ? p[2] : '!';
		}
		if (s != 'S')
			usleep(10000);
	}
	printf("worker thread: %c\n", s);
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", getpid());
	readfile(path, buf, sizeof buf);
	printf("main thread: %c\n", strrchr(buf, ')')[2]);
	readfile("/proc/self/status", buf, sizeof buf);
	char *th_line = strstr(buf, "Threads:");
	printf("%.*s\n", th_line ? (int)strcspn(th_line, "\n") : 0, th_line ? th_line : "");
	pthread_mutex_lock(&mu);
	done = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mu);
	pthread_join(th, NULL);
}

static void checkTaskAndComm(void) {
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", getpid());
	printf("task stat: %d\n", readfile(path, buf, sizeof buf) > 0);
	int fd = open("/proc/self/comm", O_WRONLY);
	if (fd < 0 || write(fd, "renamed-thread-long\n", 20) != 20) {
		perror("write comm");
		exit(1);
	}
	close(fd);
	readfile("/proc/self/comm", buf, sizeof buf);
	printf("comm: %s", buf);
	snprintf(path, sizeof path, "/proc/self/task/%d/comm", getpid());
	readfile(path, buf, sizeof buf);
	printf("task comm: %s", buf);
	readfile("/proc/self/status", buf, sizeof buf);
	printf("status name: %.*s\n", (int)strcspn(buf, "\n"), buf);
}

static void checkFdinfoAndReopen(void) {
	char path[] = "/tmp/procstate-reopen-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, "hello", 5) != 5) {
		perror("mkstemp/write");
		exit(1);
	}
	char link[64], info[256], target[256];
	snprintf(link, sizeof link, "/proc/self/fdinfo/%d", fd);
	readfile(link, info, sizeof info);
	printf("fdinfo: %.*s\n", (int)strcspn(info, "\n"), info);
	unlink(path);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof target - 1);
	target[n < 0 ? 0 : n] = 0;
	printf("readlink deleted: %d\n", strstr(target, path) == target && strstr(target, " (deleted)") != NULL);
	int fd2 = open(link, O_RDWR);
	if (fd2 < 0) {
		printf("reopen: %s\n", strerror(errno));
		return;
	}
	char buf[16] = {0};
	n = pread(fd2, buf, sizeof buf - 1, 0);
	pwrite(fd2, "J", 1, 0);
	char buf2[16] = {0};
	pread(fd, buf2, 5, 0);
	printf("reopen: read %s, written through it %s, offsets %ld %ld\n", buf, buf2,
	       (long)lseek(fd, 0, SEEK_CUR), (long)lseek(fd2, 0, SEEK_CUR));
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	checkMaps();
	checkStates();
	checkThreads();
	checkTaskAndComm();
	checkFdinfoAndReopen();
	return 0;
}
