// A child with 96 MiB of anonymous memory dies of SIGSEGV: the test kills
// the remote sentry once its core file exists, during the dump. The parent prints how the child died and whether the
// core holds the memory's last page's marker, whole.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (96 << 20)

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};
	setrlimit(RLIMIT_CORE, &r);
	pid_t pid = fork();
	if (pid == 0) {
		char *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		for (size_t i = 0; i < SIZE; i += 4096)
			m[i] = (char)(i >> 12) | 1;
		sprintf(m + SIZE - 4096, "TAIL-MARKER-%d", 5150);
		*(volatile int *)8 = 1;
		_exit(1);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("signal %d core %d\n", WTERMSIG(st), !!WCOREDUMP(st));
	DIR *d = opendir(".");
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "core", 4) != 0)
			continue;
		int fd = open(e->d_name, O_RDONLY);
		struct stat s;
		fstat(fd, &s);
		char *c = mmap(NULL, s.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		printf("core of %s MiB: %s\n", s.st_size >= SIZE ? "at least 96" : "less than 96",
		       memmem(c, s.st_size, "TAIL-MARKER-5150", 16) ? "marker found" : "no marker");
		close(fd);
	}
	closedir(d);
	return 0;
}
