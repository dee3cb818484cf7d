// restat: changes the attributes of a file it created (posted under do)
// and of a directory it made, and stats each right after, together
// with the directory the file is in (which the client may answer from
// its path cache meanwhile). Prints what each stat saw; the output must
// be the same natively and under do. The owner stays the caller (root):
// a chown to another owner stops the client posting the later calls.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what) {
	printf("%s: %s\n", what, strerror(errno));
	return 1;
}

// paths are the files the run stats; made is the mtime each had when
// made (the run's own clock, which the output must not show).
static const char *paths[] = {"w", "w/f", "w/d"};
static struct timespec made[3];

// statLine prints what stat of path says of what the calls change: the
// mtime as set by utimensat, or whether it is still the one it was made
// with.
static int statLine(const char *tag, int which) {
	const char *path = paths[which];
	struct stat st;
	if (stat(path, &st) != 0) {
		return fail(path);
	}
	char mtime[64];
	if (st.st_mtim.tv_sec < 10000000) {
		snprintf(mtime, sizeof mtime, "%lld.%09ld", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	} else if (st.st_mtim.tv_sec == made[which].tv_sec && st.st_mtim.tv_nsec == made[which].tv_nsec) {
		snprintf(mtime, sizeof mtime, "as made");
	} else {
		snprintf(mtime, sizeof mtime, "changed");
	}
	printf("%s %s mode=%o uid=%u gid=%u mtime=%s\n", tag, path, st.st_mode, st.st_uid, st.st_gid, mtime);
	return 0;
}

int main(void) {
	if (mkdir("w", 0755) != 0) {
		return fail("mkdir w");
	}
	int fd = open("w/f", O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		return fail("open w/f");
	}
	close(fd);
	if (mkdir("w/d", 0700) != 0) {
		return fail("mkdir w/d");
	}
	// The first stats take the leases the later ones could be
	// answered from.
	for (int i = 0; i < 3; i++) {
		struct stat st;
		if (stat(paths[i], &st) != 0) {
			return fail(paths[i]);
		}
		made[i] = st.st_mtim;
		if (statLine("before", i)) {
			return 1;
		}
	}
	for (int i = 0; i < 40; i++) {
		struct timespec times[2] = {{1000000 + i, 0}, {2000000 + i, 500 + i}};
		int which = i % 2 ? 2 : 1;
		const char *target = paths[which];
		switch (i % 3) {
		case 0:
			if (chmod(target, (i % 2 ? 0700 : 0600) ^ (i & 0070)) != 0) {
				return fail("chmod");
			}
			break;
		case 1:
			if (chown(target, 0, 2000 + i) != 0) {
				return fail("chown");
			}
			break;
		case 2:
			if (utimensat(AT_FDCWD, target, times, 0) != 0) {
				return fail("utimensat");
			}
			break;
		}
		char tag[16];
		snprintf(tag, sizeof tag, "%d", i);
		if (statLine(tag, 0) || statLine(tag, which)) {
			return 1;
		}
	}
	return 0;
}
