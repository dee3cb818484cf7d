// setflposted: F_SETFL of regular files as Go's os.Open makes it (the
// status flags read, O_NONBLOCK set, then cleared), from a process with
// a second thread, each read back with F_GETFL; one that changes
// nothing; ones that change other flags too; of a directory (listed
// after) and of /dev/null, as Go's os.ReadDir and os/exec make them; and
// of a pipe and of a file open for writing.
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int p[2];

static void *reader(void *arg) {
	char c;
	(void)arg;
	return read(p[0], &c, 1) == 1 ? NULL : (void *)1;
}

static void setfl(const char *what, int fd, int arg) {
	errno = 0;
	int r = fcntl(fd, F_SETFL, arg);
	int e = errno;
	printf("%s: %d %d, flags %#o\n", what, r, r < 0 ? e : 0, fcntl(fd, F_GETFL));
}

int main(void) {
	pthread_t th;
	if (pipe(p) != 0 || pthread_create(&th, NULL, reader, NULL) != 0) {
		perror("setup");
		return 1;
	}
	char buf[64];
	int d = open("setfl.data", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (d < 0 || write(d, "some data\n", 10) != 10 || close(d) != 0) {
		perror("setfl.data");
		return 1;
	}
	for (int i = 0; i < 20; i++) {
		// O_RDWR: not a read-only open, which may be posted (its
		// description's F_SETFL then waits for the open's reply).
		int f = open("setfl.data", O_RDWR | O_CLOEXEC);
		int fl = fcntl(f, F_GETFL);
		setfl("set O_NONBLOCK", f, fl | O_NONBLOCK);
		printf("read: %zd\n", read(f, buf, 4));
		setfl("clear O_NONBLOCK", f, fl & ~O_NONBLOCK);
		if (i == 0) {
			setfl("the same flags", f, fl);
			setfl("O_APPEND and O_NONBLOCK", f, fl | O_APPEND | O_NONBLOCK);
			setfl("none", f, 0);
		}
		close(f);
	}
	for (int i = 0; i < 10; i++) {
		// A read-only open, which may be posted: its F_SETFLs are
		// posted before its reply too.
		int f = open("setfl.data", O_RDONLY | O_CLOEXEC);
		int fl = fcntl(f, F_GETFL);
		setfl("read-only set O_NONBLOCK", f, fl | O_NONBLOCK);
		setfl("read-only clear O_NONBLOCK", f, fl & ~O_NONBLOCK);
		close(f);
	}
	for (int i = 0; i < 3; i++) {
		int f = open(".", O_RDONLY | O_CLOEXEC);
		int fl = fcntl(f, F_GETFL);
		setfl("directory set O_NONBLOCK", f, fl | O_NONBLOCK);
		setfl("directory clear O_NONBLOCK", f, fl & ~O_NONBLOCK);
		DIR *dir = fdopendir(f);
		int names = 0;
		while (dir && readdir(dir))
			names++;
		printf("directory listed: %s\n", names >= 3 ? "yes" : "no"); // ., .., setfl.data
		if (dir)
			closedir(dir);
		f = open("/dev/null", O_RDONLY | O_CLOEXEC);
		fl = fcntl(f, F_GETFL);
		setfl("/dev/null set O_NONBLOCK", f, fl | O_NONBLOCK);
		printf("/dev/null read: %zd\n", read(f, buf, 4));
		setfl("/dev/null clear O_NONBLOCK", f, fl & ~O_NONBLOCK);
		close(f);
	}
	setfl("pipe O_NONBLOCK", p[1], O_NONBLOCK);
	int w = open("setfl.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	setfl("written file set", w, O_WRONLY | O_NONBLOCK);
	printf("write: %zd\n", write(w, "abc", 3));
	setfl("written file clear", w, O_WRONLY);
	printf("write: %zd\n", write(w, "def", 3));
	close(w);
	w = open("setfl.out", O_RDONLY);
	printf("file: %zd %.6s\n", read(w, buf, sizeof buf), buf);
	if (write(p[1], "x", 1) != 1 || pthread_join(th, NULL) != 0) {
		perror("join");
		return 1;
	}
	return 0;
}
