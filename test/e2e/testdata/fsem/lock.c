/* Advisory locks between processes: POSIX record locks (owned by the
 * process, released by any close of the file), OFD locks, flock(2),
 * F_GETLK, blocking waits, EDEADLK, and an interrupted wait. */
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

static int lk(int fd, int cmd, short type, off_t start, off_t len) {
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	return fcntl(fd, cmd, &fl);
}

/* getlk prints what F_GETLK (or F_OFD_GETLK) reports for a lock request;
 * the pid is printed as "self", "parent", "child" or its value. */
static pid_t parent, child;
static void getlk(int fd, int cmd, short type, off_t start, off_t len) {
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	if (fcntl(fd, cmd, &fl) < 0) {
		printf("getlk = -1 %s\n", strerrorname_np(errno));
		return;
	}
	const char *who = fl.l_pid == parent ? "parent" : fl.l_pid == child ? "child" : fl.l_pid == -1 ? "-1" : "other";
	if (fl.l_type == F_UNLCK)
		printf("getlk: unlocked\n");
	else
		printf("getlk: %s start %lld len %lld pid %s\n", fl.l_type == F_WRLCK ? "write" : "read",
		       (long long)fl.l_start, (long long)fl.l_len, who);
}

static void onusr1(int sig) { (void)sig; }

/* in_child runs f in a child process and waits for it. */
static void in_child(void (*f)(void)) {
	child = fork();
	if (child == 0) {
		f();
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);
}

static int fd;

static void child_tries(void) {
	int cfd = open("f", O_RDWR);
	printf("child: ");
	T(lk(cfd, F_SETLK, F_WRLCK, 0, 10));
	printf("child: ");
	T(lk(cfd, F_SETLK, F_RDLCK, 0, 10));
	printf("child: ");
	T(lk(cfd, F_SETLK, F_WRLCK, 100, 10));
	printf("child: ");
	getlk(cfd, F_GETLK, F_WRLCK, 0, 0);
	printf("child: ");
	getlk(cfd, F_GETLK, F_RDLCK, 50, 10);
	printf("child: ");
	getlk(cfd, F_GETLK, F_WRLCK, 50, 0);
}

static void child_ofd(void) {
	int cfd = open("f", O_RDWR);
	printf("child: ");
	T(lk(cfd, F_OFD_SETLK, F_WRLCK, 0, 1));
	printf("child: ");
	getlk(cfd, F_OFD_GETLK, F_WRLCK, 0, 1);
}

static void child_flock(void) {
	int cfd = open("f", O_RDWR);
	printf("child: ");
	T(flock(cfd, LOCK_EX | LOCK_NB));
	printf("child: ");
	T(flock(cfd, LOCK_SH | LOCK_NB));
	printf("child: ");
	T(lk(cfd, F_SETLK, F_WRLCK, 0, 0)); /* flock and POSIX locks do not meet */
}

int main(void) {
	parent = getpid();
	must(fd = open("f", O_CREAT | O_RDWR, 0644));
	must(write(fd, "0123456789", 10));

	/* POSIX locks of the parent as another process sees them. */
	T(lk(fd, F_SETLK, F_WRLCK, 0, 10));
	T(lk(fd, F_SETLK, F_RDLCK, 50, 20));
	T(lk(fd, F_SETLK, F_WRLCK, 0, 5)); /* own locks never conflict */
	getlk(fd, F_GETLK, F_WRLCK, 0, 0); /* nor does F_GETLK see them */
	in_child(child_tries);
	/* Unlocking part of a range splits it. */
	T(lk(fd, F_SETLK, F_UNLCK, 3, 4));
	in_child(child_tries);
	/* Closing any fd of the file drops the process's locks. */
	int fd2 = open("f", O_RDONLY);
	close(fd2);
	in_child(child_tries);
	T(lk(fd, F_SETLK, F_WRLCK, 0, 10));

	/* Errors. */
	int rfd = open("f", O_RDONLY);
	T(lk(rfd, F_SETLK, F_WRLCK, 0, 1));
	T(lk(fd, F_SETLK, 7, 0, 1));
	struct flock bad = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = -5, .l_len = 1};
	T(fcntl(fd, F_SETLK, &bad));
	bad.l_whence = 9;
	T(fcntl(fd, F_SETLK, &bad));
	struct flock ofdpid = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_pid = 1};
	T(fcntl(fd, F_OFD_SETLK, &ofdpid));
	T(fcntl(fd, F_SETLK, NULL));
	close(rfd); /* drops the write lock too */
	T(lk(fd, F_SETLK, F_WRLCK, 0, 10));

	/* OFD locks: owned by the description; they conflict with POSIX
	 * locks of the same process when taken through another description. */
	int o1 = open("f", O_RDWR), o2 = open("f", O_RDWR);
	T(lk(o1, F_OFD_SETLK, F_WRLCK, 20, 5));
	T(lk(o2, F_OFD_SETLK, F_WRLCK, 20, 5));
	T(lk(o1, F_OFD_SETLK, F_WRLCK, 0, 1));
	getlk(o2, F_OFD_GETLK, F_WRLCK, 0, 30);
	T(lk(fd, F_SETLK, F_UNLCK, 0, 0));
	T(lk(o2, F_OFD_SETLK, F_RDLCK, 5, 1));
	in_child(child_ofd);
	close(o1);
	in_child(child_ofd);
	close(o2);

	/* flock. */
	int f1 = open("f", O_RDWR);
	T(flock(f1, LOCK_SH));
	in_child(child_flock);
	T(flock(f1, LOCK_EX));
	in_child(child_flock);
	T(flock(f1, LOCK_UN));
	in_child(child_flock);
	T(flock(f1, 0));
	T(flock(f1, 3));
	close(f1);

	/* A blocking wait ends when the holder unlocks. */
	T(lk(fd, F_SETLK, F_WRLCK, 0, 1));
	int pfd[2];
	pipe(pfd);
	child = fork();
	if (child == 0) {
		int cfd = open("f", O_RDWR);
		write(pfd[1], "r", 1);
		int r = lk(cfd, F_SETLKW, F_WRLCK, 0, 1);
		printf("child: waited lock = %d\n", r);
		_exit(0);
	}
	char c;
	read(pfd[0], &c, 1);
	usleep(200000);
	printf("parent unlocks\n");
	long unlocked = lk(fd, F_SETLK, F_UNLCK, 0, 1);
	int st;
	waitpid(child, &st, 0); /* the child prints first */
	T(unlocked);

	/* Deadlock: the child holds 10, waits for 0; the parent holds 0
	 * and asks for 10. */
	T(lk(fd, F_SETLK, F_WRLCK, 0, 1));
	child = fork();
	if (child == 0) {
		int cfd = open("f", O_RDWR);
		lk(cfd, F_SETLK, F_WRLCK, 10, 1);
		write(pfd[1], "r", 1);
		int r = lk(cfd, F_SETLKW, F_WRLCK, 0, 1);
		printf("child: lock 0 = %d\n", r);
		_exit(0);
	}
	read(pfd[0], &c, 1);
	usleep(200000);
	T(lk(fd, F_SETLKW, F_WRLCK, 10, 1));
	unlocked = lk(fd, F_SETLK, F_UNLCK, 0, 0);
	waitpid(child, &st, 0);
	T(unlocked);

	/* An interrupted wait: EINTR without SA_RESTART. */
	struct sigaction sa = {0};
	sa.sa_handler = onusr1;
	sigaction(SIGUSR1, &sa, NULL);
	child = fork();
	if (child == 0) {
		int cfd = open("f", O_RDWR);
		lk(cfd, F_SETLK, F_WRLCK, 0, 0);
		write(pfd[1], "r", 1);
		pause();
		_exit(0);
	}
	read(pfd[0], &c, 1);
	pid_t killer = fork();
	if (killer == 0) {
		usleep(300000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	T(lk(fd, F_SETLKW, F_WRLCK, 0, 1));
	waitpid(killer, &st, 0);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	/* The killed child's locks are gone. */
	T(lk(fd, F_SETLK, F_WRLCK, 0, 0));
	return 0;
}
