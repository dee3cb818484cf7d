// statdir: creates files in directory d and stats d right after each
// creation, with no call between them (tar stats the directory of each
// member, after calls that send the creation along). Run in an empty
// directory; prints what it saw, not the times (which differ natively).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
	struct stat st;
	if (mkdir("d", 0755) < 0 || stat("d", &st) < 0) {
		perror("mkdir d");
		return 1;
	}
	for (int i = 0; i < 20; i++) {
		char name[32];
		snprintf(name, sizeof name, "d/f%02d", i);
		printf("%s: unlink %s", name, unlink(name) < 0 ? strerror(errno) : "ok");
		printf(", again %s", unlink(name) < 0 ? strerror(errno) : "ok");
		int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) {
			printf(", open: %s\n", strerror(errno));
			return 1;
		}
		struct stat after;
		if (stat("d", &after) < 0) {
			printf(", stat d: %s\n", strerror(errno));
			return 1;
		}
		printf(", open ok, stat d: nlink %d, size changed %d\n", (int)after.st_nlink, after.st_size != st.st_size);
		close(fd);
	}
	return 0;
}
