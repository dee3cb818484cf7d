// others_changes: a process asks stat of the same path again and again
// while a child changes the file between the questions (a hard link and
// its removal, open with O_TRUNC, writes, truncate, fchmod, fchown, a
// rename away and back, a write through a shared mapping, futimens), and
// asks of names a child then creates without open (mkfifo, bind of a unix
// socket), and the same search permission before and after its
// supplementary groups change. Each answer is printed (size, link count,
// mode, owner, and whether mtime and ctime moved since the answer
// before), so that a run under do, whose client may answer repeated
// questions from its path cache, can be compared with a native one (run
// as root: the ownership and id changes need it).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

// nap leaves the clock time to move between a question and a change
// (file times have the kernel's coarse clock: a few milliseconds).
static void nap(void) {
	struct timespec ts = {0, 30 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static struct stat last;
static int have_last;

static int same_time(struct timespec a, struct timespec b) {
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static void ask(const char *label, const char *path) {
	struct stat st;
	printf("%-26s %s:", label, path);
	if (stat(path, &st) != 0) {
		printf(" %s\n", strerror(errno));
		have_last = 0;
		fflush(stdout);
		return;
	}
	printf(" mode %o nlink %ld uid %d gid %d size %ld", st.st_mode, (long)st.st_nlink, st.st_uid, st.st_gid,
	       (long)st.st_size);
	if (have_last)
		printf(" mtime %s ctime %s", same_time(st.st_mtim, last.st_mtim) ? "same" : "moved",
		       same_time(st.st_ctim, last.st_ctim) ? "same" : "moved");
	printf("\n");
	fflush(stdout);
	last = st;
	have_last = 1;
}

static void in_child(void (*change)(void)) {
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		change();
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || status != 0)
		die("child");
}

static int open_or_die(const char *path, int flags) {
	int fd = open(path, flags);
	if (fd < 0)
		die(path);
	return fd;
}

static void do_link(void) {
	if (link("f", "f2") != 0)
		die("link");
}
static void do_unlink(void) {
	if (unlink("f2") != 0)
		die("unlink");
}
static void do_open_trunc(void) { close(open_or_die("f", O_WRONLY | O_TRUNC)); }
static void do_write(void) {
	int fd = open_or_die("f", O_WRONLY);
	if (pwrite(fd, "abcdef", 6, 0) != 6)
		die("write");
	close(fd);
}
static void do_overwrite(void) {
	int fd = open_or_die("f", O_WRONLY);
	if (pwrite(fd, "ABC", 3, 0) != 3)
		die("overwrite");
	close(fd);
}
static void do_truncate(void) {
	if (truncate("f", 100) != 0)
		die("truncate");
}
static void do_fchmod(void) {
	int fd = open_or_die("f", O_RDONLY);
	if (fchmod(fd, 0640) != 0)
		die("fchmod");
	close(fd);
}
static void do_fchown(void) {
	int fd = open_or_die("f", O_RDONLY);
	if (fchown(fd, 7, 8) != 0)
		die("fchown");
	close(fd);
}
static void do_rename(void) {
	if (rename("f", "g") != 0 || rename("g", "f") != 0)
		die("rename");
}
static void do_mapped_write(void) {
	int fd = open_or_die("f", O_RDWR);
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	p[0] = 'M';
	if (msync(p, 4096, MS_SYNC) != 0)
		die("msync");
	munmap(p, 4096);
	close(fd);
}
static void do_futimens(void) {
	int fd = open_or_die("f", O_RDONLY);
	struct timespec ts[2] = {{1000, 5}, {2000, 7}};
	if (futimens(fd, ts) != 0)
		die("futimens");
	close(fd);
}
static void do_mkfifo(void) {
	if (mkfifo("fifo", 0644) != 0)
		die("mkfifo");
}
static void do_bind(void) {
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strcpy(a.sun_path, "sock");
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0)
		die("bind");
	close(s);
}

static void may_search(const char *label) {
	printf("%s: %s\n", label, faccessat(AT_FDCWD, "d", X_OK, AT_EACCESS) == 0 ? "yes" : strerror(errno));
}

int main(void) {
	int fd = open("f", O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || write(fd, "0123456789", 10) != 10)
		die("create f");
	close(fd);
	ask("start", "f");
	ask("again", "f");
	struct {
		const char *label;
		void (*change)(void);
	} changes[] = {
		{"child's link", do_link},
		{"child's unlink", do_unlink},
		{"child's O_TRUNC", do_open_trunc},
		{"child's write", do_write},
		{"child's overwrite", do_overwrite},
		{"child's truncate", do_truncate},
		{"child's fchmod", do_fchmod},
		{"child's fchown", do_fchown},
		{"child's rename and back", do_rename},
		{"child's mapped write", do_mapped_write},
		{"child's futimens", do_futimens},
	};
	for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
		nap();
		ask("before", "f");
		ask("before, again", "f");
		nap();
		in_child(changes[i].change);
		ask(changes[i].label, "f");
	}
	struct stat st;
	if (stat("f", &st) != 0)
		die("stat");
	printf("times %ld.%09ld %ld.%09ld\n", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec,
	       st.st_mtim.tv_nsec);

	ask("before mkfifo", "fifo");
	ask("before mkfifo, again", "fifo");
	in_child(do_mkfifo);
	ask("child's mkfifo", "fifo");
	ask("before bind", "sock");
	ask("before bind, again", "sock");
	in_child(do_bind);
	ask("child's bind", "sock");

	// d is searchable through a supplementary group only.
	if (mkdir("d", 0750) != 0 || chown("d", 0, 4242) != 0)
		die("mkdir d");
	if (setgroups(1, (gid_t[]){4242}) != 0 || setresgid(-1, 4243, -1) != 0 || setresuid(-1, 65534, -1) != 0)
		die("ids");
	may_search("search d in group 4242");
	may_search("search d in group 4242, again");
	if (setresuid(-1, 0, -1) != 0 || setgroups(0, NULL) != 0 || setresuid(-1, 65534, -1) != 0)
		die("groups");
	may_search("search d without groups");
	return 0;
}
