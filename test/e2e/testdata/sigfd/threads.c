// A multi-threaded process whose threads all block SIGUSR1 and SIGTERM
// (default dispositions) and one of whose threads (not the main one)
// reads them from a signalfd, blocking and through poll, while another
// process kills the whole process: the reading thread gets each signal,
// whichever thread the kernel would queue it on.
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static void *worker(void *arg) {
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static pid_t killLater(int sig) {
	pid_t parent = getpid(), c = fork();
	if (c == 0) {
		nanosleep(&(struct timespec){0, 50000000}, NULL);
		kill(parent, sig);
		_exit(0);
	}
	return c;
}

static int fd;

static void *reader(void *arg) {
	(void)arg;
	struct signalfd_siginfo si;
	for (int round = 0; round < 3; round++) {
		pid_t c = killLater(round == 1 ? SIGTERM : SIGUSR1);
		if (round == 2) {
			TRYN("poll", poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 5000));
		}
		TRYN("read", read(fd, &si, sizeof si));
		printf("round %d: signo %u code %d\n", round, si.ssi_signo, si.ssi_code);
		waitpid(c, NULL, 0);
	}
	return NULL;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGTERM);
	sigprocmask(SIG_BLOCK, &m, NULL);
	fd = signalfd(-1, &m, 0);
	pthread_t w[3], r;
	for (int i = 0; i < 3; i++)
		pthread_create(&w[i], NULL, worker, NULL);
	pthread_create(&r, NULL, reader, NULL);
	pthread_join(r, NULL);
	return 0;
}
