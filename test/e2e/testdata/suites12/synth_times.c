// synth_times: the times of /dev and /proc's files stand still between
// two stats a second apart and are older than the program (they were
// the time of each stat).
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *paths[] = {"/dev", "/dev/null", "/dev/zero", "/dev/urandom", "/proc"};
#define N (sizeof paths / sizeof paths[0])

int main(void) {
	struct timespec start;
	clock_gettime(CLOCK_REALTIME, &start);
	struct stat a[N], b[N];
	for (unsigned i = 0; i < N; i++)
		if (stat(paths[i], &a[i]) < 0)
			perror(paths[i]);
	sleep(1);
	for (unsigned i = 0; i < N; i++) {
		if (stat(paths[i], &b[i]) < 0)
			perror(paths[i]);
		printf("%s: ctime same %d, mtime same %d, ctime before start %d\n", paths[i],
		       a[i].st_ctim.tv_sec == b[i].st_ctim.tv_sec && a[i].st_ctim.tv_nsec == b[i].st_ctim.tv_nsec,
		       a[i].st_mtim.tv_sec == b[i].st_mtim.tv_sec && a[i].st_mtim.tv_nsec == b[i].st_mtim.tv_nsec,
		       a[i].st_ctim.tv_sec < start.tv_sec);
	}
	return 0;
}
