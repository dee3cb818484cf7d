// inotify: events of the program's own file operations on a watched
// directory and a watched file, and the calls' errors.
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common.h"

static uint32_t lastcookie;

// drain prints every queued event.
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
			const char *cookie = "";
			if (e->cookie != 0) {
				cookie = e->cookie == lastcookie ? " cookie=same" : " cookie=new";
				lastcookie = e->cookie;
			}
			printf("  wd=%d mask=%#x name=%s%s\n", e->wd, e->mask, e->len ? e->name : "", cookie);
			p += sizeof *e + e->len;
		}
	}
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	mkdir("w", 0755);
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	TRY("inotify_init1", in);
	TRYN("F_GETFD", fcntl(in, F_GETFD));
	TRYN("watch dir", inotify_add_watch(in, "w", IN_ALL_EVENTS));
	drain("nothing yet", in);
	struct pollfd pfd = {.fd = in, .events = POLLIN};
	TRYN("poll empty", poll(&pfd, 1, 0));

	int fd = open("w/a", O_CREAT | O_WRONLY, 0644);
	TRYN("write", write(fd, "hello", 5));
	close(fd);
	TRYN("poll ready", poll(&pfd, 1, 0));
	drain("create, write, close", in);

	TRYN("watch file", inotify_add_watch(in, "w/a", IN_ALL_EVENTS));
	TRYN("watch file again, mask add", inotify_add_watch(in, "w/a", IN_ATTRIB | IN_MASK_ADD));
	fd = open("w/a", O_RDONLY);
	char b[8];
	TRYN("read", read(fd, b, sizeof b));
	close(fd);
	TRY("chmod", chmod("w/a", 0600));
	drain("open, read, close, chmod", in);

	TRY("rename", rename("w/a", "w/b"));
	TRY("mkdir", mkdir("w/d", 0755));
	TRY("rmdir", rmdir("w/d"));
	TRY("truncate", truncate("w/b", 2));
	drain("rename, mkdir, rmdir, truncate", in);

	TRY("unlink", unlink("w/b"));
	drain("unlink", in);

	// A one-shot watch, then rm_watch.
	close(open("w/c", O_CREAT | O_WRONLY, 0644));
	drain("create c", in);
	int one = inotify_add_watch(in, "w/c", IN_OPEN | IN_ONESHOT);
	TRY("watch oneshot", one);
	close(open("w/c", O_RDONLY));
	close(open("w/c", O_RDONLY));
	drain("two opens of c", in);
	int wc = inotify_add_watch(in, "w/c", IN_CLOSE);
	TRY("watch c", wc);
	TRY("rm_watch", inotify_rm_watch(in, wc));
	TRY("rm_watch again", inotify_rm_watch(in, wc));
	drain("after rm_watch", in);

	// Errors.
	TRY("add_watch bad fd", inotify_add_watch(99, "w", IN_OPEN));
	TRY("add_watch not inotify", inotify_add_watch(1, "w", IN_OPEN));
	TRY("add_watch no events", inotify_add_watch(in, "w", 0));
	TRY("add_watch missing", inotify_add_watch(in, "w/none", IN_OPEN));
	TRY("add_watch onlydir", inotify_add_watch(in, "w/c", IN_OPEN | IN_ONLYDIR));
	TRY("add_watch mask_create exists", inotify_add_watch(in, "w", IN_OPEN | IN_MASK_CREATE));
	TRY("rm_watch bad wd", inotify_rm_watch(in, 12345));
	TRY("init1 bad flags", inotify_init1(0x1));
	close(open("w/c", O_RDONLY));
	int queued = -1;
	TRY("FIONREAD", ioctl(in, FIONREAD, &queued));
	printf("queued %d\n", queued);
	char small[4];
	TRY("read too small", read(in, small, sizeof small));
	drain("rest", in);
	unlink("w/c");

	// Writes to an unlinked child still reach the directory's watch,
	// but not one with IN_EXCL_UNLINK; /proc's fdinfo shows the masks.
	for (int excl = 0; excl < 2; excl++) {
		int in2 = inotify_init1(IN_NONBLOCK);
		int wd = inotify_add_watch(in2, "w", IN_MODIFY | (excl ? IN_EXCL_UNLINK : 0));
		TRY("watch w", wd);
		char path[64], line[256];
		snprintf(path, sizeof path, "/proc/self/fdinfo/%d", in2);
		FILE *fi = fopen(path, "r");
		while (fi && fgets(line, sizeof line, fi)) {
			unsigned mask;
			if (sscanf(line, "inotify wd:%*x ino:%*x sdev:%*x mask:%x", &mask) == 1) printf("fdinfo mask %#x\n", mask);
		}
		if (fi) fclose(fi);
		int u = open("w/u", O_CREAT | O_RDWR, 0644);
		TRYN("write u", write(u, "1", 1));
		drain("linked child", in2);
		unlink("w/u");
		TRYN("write unlinked u", write(u, "2", 1));
		close(u);
		drain(excl ? "unlinked child, IN_EXCL_UNLINK" : "unlinked child", in2);
		close(in2);
	}
	rmdir("w");
	return 0;
}
