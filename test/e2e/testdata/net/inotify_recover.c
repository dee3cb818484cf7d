// inotify watches (with a hole in their descriptors) held across a kill
// of the remote sentry (the test kills it while this program waits for
// the file "go"; phase1 tells it the state is set up).
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "common.h"

static void drain(const char *what, int in) {
	char buf[4096] __attribute__((aligned(8)));
	printf("%s:\n", what);
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n <= 0) {
			printf("  end: %zd errno %d\n", n, n < 0 ? errno : 0);
			return;
		}
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			printf("  wd=%d mask=%#x name=%s\n", e->wd, e->mask, e->len ? e->name : "");
			p += sizeof *e + e->len;
		}
	}
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("phase1");
	mkdir("rw", 0755);
	close(open("rw/f", O_CREAT | O_WRONLY, 0644));
	close(open("rw/g", O_CREAT | O_WRONLY, 0644));
	int in = inotify_init1(IN_NONBLOCK);
	TRY("inotify_init1", in);
	TRYN("watch dir", inotify_add_watch(in, "rw", IN_CREATE | IN_DELETE | IN_MODIFY));
	TRYN("watch g", inotify_add_watch(in, "rw/g", IN_ALL_EVENTS));
	TRYN("watch f", inotify_add_watch(in, "rw/f", IN_ATTRIB | IN_CLOSE_WRITE));
	TRY("rm_watch g", inotify_rm_watch(in, 2));
	drain("before", in);

	close(open("phase1", O_CREAT | O_WRONLY, 0644));
	struct stat st;
	while (stat("go", &st) < 0) nanosleep(&(struct timespec){0, 10000000}, NULL);

	int fd = open("rw/f", O_WRONLY);
	TRYN("write f", write(fd, "x", 1));
	close(fd);
	TRY("chmod f", chmod("rw/f", 0600));
	close(open("rw/h", O_CREAT | O_WRONLY, 0644));
	TRY("unlink g", unlink("rw/g"));
	drain("after", in);
	TRYN("watch h", inotify_add_watch(in, "rw/h", IN_ALL_EVENTS));
	TRY("rm_watch 2", inotify_rm_watch(in, 2));
	TRY("rm_watch 3", inotify_rm_watch(in, 3));
	drain("removed", in);
	unlink("rw/f");
	unlink("rw/h");
	rmdir("rw");
	unlink("phase1");
	unlink("go");
	return 0;
}
