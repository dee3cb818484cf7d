/* FIFOs: mkfifo and mknod S_IFIFO, open rules (blocking for the partner,
 * ENXIO, O_RDWR), data between processes, EOF, an interrupted open. */
#include <signal.h>
#include <sys/wait.h>

static void onusr1(int sig) { (void)sig; }

int main(void) {
	umask(022);
	T(mkfifo("ff", 0666));
	T(mknod("ff2", S_IFIFO | 0600, 0));
	T(mkfifo("ff", 0666));
	S("ff");
	S("ff2");

	/* Nonblocking opens. */
	T(open("ff", O_WRONLY | O_NONBLOCK));
	int r = open("ff", O_RDONLY | O_NONBLOCK);
	T(r >= 0);
	int w = open("ff", O_WRONLY | O_NONBLOCK);
	T(w >= 0);
	T(write(w, "abc", 3));
	char buf[64] = {0};
	T(read(r, buf, sizeof(buf)));
	printf("read %s\n", buf);
	T(read(r, buf, sizeof(buf)));
	T(lseek(r, 0, SEEK_SET));
	struct stat st;
	T(fstat(r, &st));
	printf("fstat: fifo %d mode %o\n", S_ISFIFO(st.st_mode), st.st_mode & 07777);
	close(w);
	T(read(r, buf, sizeof(buf)));
	close(r);

	/* O_RDWR does not wait. */
	int rw = open("ff", O_RDWR);
	T(rw >= 0);
	T(write(rw, "xyz", 3));
	memset(buf, 0, sizeof(buf));
	T(read(rw, buf, 3));
	printf("rdwr read %s\n", buf);
	close(rw);

	/* Blocking opens meet: the child writes, the parent reads to EOF. */
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("ff", O_WRONLY);
		if (fd < 0)
			_exit(1);
		for (int i = 0; i < 100; i++)
			dprintf(fd, "line %d\n", i);
		close(fd);
		_exit(0);
	}
	int fd = open("ff", O_RDONLY);
	T(fd >= 0);
	long total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	printf("parent read %ld bytes, last read %zd\n", total, n);
	close(fd);
	int status;
	waitpid(pid, &status, 0);
	printf("child status %d\n", status);

	/* The reader opens first this time. */
	pid = fork();
	if (pid == 0) {
		int fd = open("ff2", O_RDONLY);
		char b[16] = {0};
		int n = read(fd, b, sizeof(b) - 1);
		printf("child read %d %s\n", n, b);
		fflush(stdout);
		_exit(0);
	}
	fd = open("ff2", O_WRONLY);
	long wn = write(fd, "ping", 4);
	waitpid(pid, &status, 0);
	T(fd >= 0);
	T(wn);
	close(fd);

	/* A blocked open is interrupted by a signal without SA_RESTART. */
	struct sigaction sa = {0};
	sa.sa_handler = onusr1;
	sigaction(SIGUSR1, &sa, NULL);
	pid_t parent = getpid();
	pid = fork();
	if (pid == 0) {
		usleep(300000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	T(open("ff", O_RDONLY));
	waitpid(pid, &status, 0);

	/* Writing with no reader: EPIPE (SIGPIPE ignored). */
	signal(SIGPIPE, SIG_IGN);
	r = open("ff", O_RDONLY | O_NONBLOCK);
	w = open("ff", O_WRONLY | O_NONBLOCK);
	close(r);
	T(write(w, "x", 1));
	close(w);
	T(unlink("ff"));
	T(unlink("ff2"));
	return 0;
}
