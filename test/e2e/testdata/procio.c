// procio: /proc/self/io's counts across known calls: pipe writes and
// reads, /dev/null, a read of a bad fd (not counted), sendfile of a
// file to a pipe (both directions), a thread's writes (its counts stay the process's when it
// exits), a reaped child's (added to its parent's), and a thread's own
// task/<tid>/io. Each read of the file is one read(2), whose bytes the
// next snapshot counts; the deltas printed leave those out.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <unistd.h>

struct io {
	unsigned long long rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled;
	int len; // the read's bytes
};

static void die(const char *what) {
	perror(what);
	exit(1);
}

static struct io snap(const char *path) {
	struct io v;
	char b[512];
	int fd = open(path, O_RDONLY);
	if (fd < 0) die(path);
	int n = read(fd, b, sizeof b - 1);
	if (n <= 0) die("read io");
	b[n] = 0;
	close(fd);
	if (sscanf(b, "rchar: %llu\nwchar: %llu\nsyscr: %llu\nsyscw: %llu\nread_bytes: %llu\nwrite_bytes: %llu\ncancelled_write_bytes: %llu\n",
	           &v.rchar, &v.wchar, &v.syscr, &v.syscw, &v.read_bytes, &v.write_bytes, &v.cancelled) != 7)
		die(b);
	v.len = n;
	return v;
}

// delta prints what happened between a and b, less b's own read of the
// file that produced a.
static void delta(const char *what, struct io a, struct io b) {
	printf("%s: rchar +%llu wchar +%llu syscr +%llu syscw +%llu\n", what, b.rchar - a.rchar - a.len, b.wchar - a.wchar,
	       b.syscr - a.syscr - 1, b.syscw - a.syscw);
}

static void *thread(void *arg) {
	int fd = *(int *)arg;
	char buf[20] = {0};
	if (write(fd, buf, 20) != 20 || write(fd, buf, 5) != 5) die("thread write");
	return NULL;
}

int main(void) {
	char buf[512] = {0};
	int p[2];
	if (pipe(p) != 0) die("pipe");
	int null = open("/dev/null", O_RDWR);
	if (null < 0) die("/dev/null");
	int f = open("data", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (f < 0 || write(f, buf, 300) != 300) die("data");

	struct io a = snap("/proc/self/io");
	for (int i = 0; i < 3; i++)
		if (write(p[1], buf, 100) != 100) die("write");
	if (read(p[0], buf, 150) != 150 || read(p[0], buf, 150) != 150) die("read");
	if (write(null, buf, 10) != 10 || read(null, buf, 10) != 0) die("null");
	if (read(99, buf, 1) != -1) die("read of a bad fd");
	struct io b = snap("/proc/self/io");
	delta("pipe and null", a, b);

	off_t off = 0;
	if (sendfile(p[1], f, &off, 300) != 300 || read(p[0], buf, 300) != 300) die("sendfile");
	close(f);
	struct io c = snap("/proc/self/io");
	delta("sendfile and its read", b, c);

	pthread_t th;
	if (pthread_create(&th, NULL, thread, &null) != 0 || pthread_join(th, NULL) != 0) die("thread");
	struct io d = snap("/proc/self/io");
	delta("an exited thread", c, d);

	pid_t pid = fork();
	if (pid == 0) {
		if (write(null, buf, 50) != 50) _exit(1);
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || status != 0) die("child");
	struct io e = snap("/proc/self/io");
	delta("a reaped child", d, e);

	// The main thread's own file: only its calls (the thread's and the
	// child's are not its).
	char task[64];
	snprintf(task, sizeof task, "/proc/self/task/%d/io", getpid());
	struct io t1 = snap(task);
	if (write(null, buf, 7) != 7) die("write");
	struct io t2 = snap(task);
	delta("the main thread", t1, t2);
	printf("process counts the thread's and the child's: %d\n", e.wchar - a.wchar >= 300 + 10 + 300 + 25 + 50);
	// The storage layer's counts are the host's page cache's
	// (unlink's cancelled write-back): their lines are only parsed.
	unlink("data");
	return 0;
}
