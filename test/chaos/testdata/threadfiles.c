// threadfiles N [pidfd]: a process with three threads, as a Go
// program's: one blocked reading a pipe (its poller; with pidfd, waiting
// through waitid(P_PIDFD) for a child that reads that pipe, as Go's
// os/exec waits for a command), two each writing its own file N
// rounds (open O_APPEND, a line, F_SETFL O_NONBLOCK and back, close:
// posted by a process with several threads), reading it back through a
// new description (the read cache) and checking every line, and
// appending a tagged line to a shared file every 10 rounds. The main
// thread then checks the shared file (each writer's lines all there, in
// its order); makes, while the poller still blocks, a directory d and N
// in it (d/rROUND), each with a file holding a line (O_EXCL), given mode
// 0640 and fixed times by name: as a Go program's, the calls of its
// other thread in flight are neutral, so the mkdirs, creations, chmods
// and utimensats are posted; reads those files back and stats them; and prints
// what it found, and how many more fds the process has open at the end
// than at its start (the pipe's ends and the pidfd: a call re-sent after
// a kill that made its fd a second time leaves one more).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int p[2], rounds, pidfd = -1;

static void *poller(void *arg) {
	char c;
	(void)arg;
	if (pidfd >= 0) {
		siginfo_t info;
		return waitid(P_PIDFD, pidfd, &info, WEXITED) == 0 && info.si_status == 7 ? NULL : (void *)1;
	}
	return read(p[0], &c, 1) == 1 ? NULL : (void *)1;
}

static void *writer(void *arg) {
	long id = (long)arg;
	char path[16], line[64], buf[8192];
	snprintf(path, sizeof path, "t%ld.txt", id);
	for (int r = 0; r < rounds; r++) {
		int f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		int n = snprintf(line, sizeof line, "thread %ld round %04d\n", id, r);
		int fl = f < 0 ? -1 : fcntl(f, F_GETFL);
		const char *step = f < 0                                  ? "open"
				   : fl < 0                               ? "F_GETFL"
				   : write(f, line, n) != n               ? "write"
				   : fcntl(f, F_SETFL, fl | O_NONBLOCK) != 0 ? "F_SETFL"
				   : fcntl(f, F_SETFL, fl) != 0           ? "F_SETFL back"
				   : close(f) != 0                        ? "close"
									  : NULL;
		if (step) {
			printf("thread %ld round %d: write failed at %s (fd %d, errno %d)\n", id, r, step, f, errno);
			return (void *)1;
		}
		f = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t got = 0, k;
		while ((k = read(f, buf, sizeof buf)) > 0)
			got += k;
		int readErr = k < 0 ? errno : 0;
		close(f);
		if (got != (ssize_t)(r + 1) * n) {
			printf("thread %ld round %d: read %zd bytes, want %zd (fd %d, last read errno %d)\n", id, r, got,
			       (ssize_t)(r + 1) * n, f, readErr);
			return (void *)1;
		}
		if (r % 10 == 0) {
			f = open("shared.txt", O_WRONLY | O_APPEND | O_CREAT, 0644);
			if (f < 0 || write(f, line, n) != n || close(f) != 0) {
				printf("thread %ld round %d: shared write failed\n", id, r);
				return (void *)1;
			}
		}
	}
	return NULL;
}

// roundFiles makes d/rROUND/f for each round, holding its line, and
// returns how many of them then read back as written (-1: a call
// failed, said).
static int roundFiles(void) {
	char dir[32], path[40], line[64], got[64];
	if (mkdir("d", 0755) != 0) {
		perror("mkdir d");
		return -1;
	}
	for (int r = 0; r < rounds; r++) {
		snprintf(dir, sizeof dir, "d/r%04d", r);
		snprintf(path, sizeof path, "%s/f", dir);
		int n = snprintf(line, sizeof line, "main round %04d\n", r), f;
		struct timespec times[2] = {{.tv_sec = 1000000 + r}, {.tv_sec = 2000000 + r}};
		if (mkdir(dir, 0755) != 0 || (f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0 ||
		    write(f, line, n) != n || close(f) != 0 || chmod(path, 0640) != 0 ||
		    utimensat(AT_FDCWD, path, times, 0) != 0) {
			printf("round %d: making %s failed (errno %d)\n", r, path, errno);
			return -1;
		}
	}
	int good = 0;
	for (int r = 0; r < rounds; r++) {
		snprintf(path, sizeof path, "d/r%04d/f", r);
		int n = snprintf(line, sizeof line, "main round %04d\n", r);
		struct stat st;
		if (stat(path, &st) != 0 || (st.st_mode & 07777) != 0640 || st.st_mtime != 2000000 + r)
			continue;
		int f = open(path, O_RDONLY | O_CLOEXEC);
		if (f < 0)
			continue;
		good += read(f, got, sizeof got) == n && memcmp(got, line, n) == 0;
		close(f);
	}
	return good;
}

// open_fds counts the process's open fds (what it inherited too: a
// count is compared with the one at the start).
static int open_fds(void) {
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

int main(int argc, char **argv) {
	int fds_at_start = open_fds();
	pthread_t pt, a, b;
	rounds = argc > 1 ? atoi(argv[1]) : 100;
	if (pipe(p) != 0) {
		perror("pipe");
		return 1;
	}
	if (argc > 2 && strcmp(argv[2], "pidfd") == 0) {
		pid_t child = fork();
		if (child == 0) {
			char c;
			_exit(read(p[0], &c, 1) == 1 ? 7 : 1);
		}
		if (child < 0 || (pidfd = syscall(SYS_pidfd_open, child, 0)) < 0) {
			perror("child");
			return 1;
		}
	}
	if (pthread_create(&pt, NULL, poller, NULL) != 0 ||
	    pthread_create(&a, NULL, writer, (void *)1) != 0 || pthread_create(&b, NULL, writer, (void *)2) != 0) {
		perror("setup");
		return 1;
	}
	void *ra, *rb;
	pthread_join(a, &ra);
	pthread_join(b, &rb);
	int made = roundFiles();
	void *rp;
	if (write(p[1], "x", 1) != 1 || pthread_join(pt, &rp) != 0 || rp != NULL) {
		perror("poller");
		return 1;
	}
	FILE *in = fopen("shared.txt", "r");
	int next[3] = {0, 0, 0}, lines = 0, order = 0;
	char line[64];
	long id;
	int r;
	while (in && fgets(line, sizeof line, in)) {
		if (sscanf(line, "thread %ld round %d", &id, &r) != 2 || id < 1 || id > 2)
			continue;
		order += r != next[id];
		next[id] = r + 10;
		lines++;
	}
	if (in)
		fclose(in);
	printf("writers %s %s; shared: %d lines, %d out of order; round files: %d; %d more fds open\n",
	       ra ? "failed" : "ok", rb ? "failed" : "ok", lines, order, made, open_fds() - fds_at_start);
	return 0;
}
