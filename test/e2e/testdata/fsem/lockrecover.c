/* Locks across a server kill: the parent holds a POSIX lock and a flock
 * lock; a child keeps trying to take them (and must fail with EAGAIN
 * every time) while the test kills the remote sentry; then the parent
 * unlocks and the child's next try succeeds. The child writes its
 * attempt count to "progress" for the test to time the kill. */
#include <sys/file.h>
#include <sys/wait.h>

static int lk(int fd, int cmd, short type) {
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	return fcntl(fd, cmd, &fl);
}

int main(int argc, char **argv) {
	int tries = argc > 1 ? atoi(argv[1]) : 60;
	int fd, f2;
	must(fd = open("f", O_CREAT | O_RDWR, 0644));
	must(f2 = open("f", O_RDWR));
	T(lk(fd, F_SETLK, F_WRLCK));
	T(flock(f2, LOCK_EX));
	int go[2], back[2];
	must(pipe(go));
	must(pipe(back));
	pid_t pid = fork();
	if (pid == 0) {
		close(f2); /* the child's copy of the flock description stays shared */
		int cfd = open("f", O_RDWR);
		int bad = 0;
		for (int i = 0; i < tries; i++) {
			if (!(lk(cfd, F_SETLK, F_WRLCK) < 0 && errno == EAGAIN))
				bad++;
			if (!(flock(cfd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK))
				bad++;
			int p = open("progress", O_WRONLY | O_CREAT | O_TRUNC, 0644);
			dprintf(p, "%d\n", i + 1);
			close(p);
			usleep(50000);
		}
		printf("child: %d tries, %d unexpected results\n", tries, bad);
		write(back[1], "x", 1);
		char c;
		read(go[0], &c, 1);
		T(lk(cfd, F_SETLK, F_WRLCK));
		T(flock(cfd, LOCK_EX | LOCK_NB));
		_exit(0);
	}
	char c;
	read(back[0], &c, 1);
	T(lk(fd, F_SETLK, F_UNLCK));
	T(flock(f2, LOCK_UN));
	write(go[1], "x", 1);
	int st;
	waitpid(pid, &st, 0);
	printf("child status %d\n", st);
	return 0;
}
