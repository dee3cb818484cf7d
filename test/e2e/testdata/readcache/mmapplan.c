// mmapplan: private mappings of a file the process reads (and leases),
// mapped again and again while the file is changed through another
// description, by a child, by truncation to a larger and a smaller size,
// and while a copy-on-write page of an earlier mapping holds another
// byte: each new mapping must show what Linux shows. Under do the
// mappings after the first come from the plan kept on the file's lease
// (sentry/client/mmapreuse.go) until a change revokes it.
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

static sigjmp_buf bus;

static void onbus(int sig) {
	(void)sig;
	siglongjmp(bus, 1);
}

// show maps len bytes of fd at off privately and prints the bytes at
// each 4 KiB page's start, or where a read of one faults. The mapping
// stays (ld.so keeps a library's first mapping while it maps its
// segments): a plan is reused while the client maps its file.
static struct {
	char *p;
	size_t len;
} held[64];
static int nheld;

static void show(const char *step, int fd, size_t len, off_t off) {
	char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, off);
	if (p == MAP_FAILED || nheld == 64)
		die("mmap");
	held[nheld].p = p;
	held[nheld++].len = len;
	printf("%s:", step);
	for (size_t i = 0; i < len; i += 4096) {
		if (sigsetjmp(bus, 1)) {
			printf(" SIGBUS@%zu", i);
			break;
		}
		printf(" %c", p[i]);
	}
	printf("\n");
}

// unmap_all unmaps the mappings show made.
static void unmap_all(void) {
	while (nheld > 0) {
		nheld--;
		if (munmap(held[nheld].p, held[nheld].len) != 0)
			die("munmap");
	}
}

// lease reads fd's attributes and a byte at off, as a program does
// before it maps a file (under do: the lease the next mappings use).
static void lease(int fd, off_t off) {
	struct stat st;
	char c;
	if (fstat(fd, &st) != 0 || pread(fd, &c, 1, off) != 1)
		die("lease");
	printf("size %lld, byte %lld: %c\n", (long long)st.st_size, (long long)off, c);
}

static void child(void (*fn)(void)) {
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		fn();
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("child");
}

static void child_writes(void) {
	int w = open("data", O_WRONLY);
	if (w < 0 || pwrite(w, "cccc", 4, 4096) != 4)
		die("child pwrite");
	close(w);
}

static void child_grows(void) {
	int w = open("data", O_WRONLY);
	if (w < 0 || ftruncate(w, 12288) != 0 || pwrite(w, "dddd", 4, 8192) != 4)
		die("child grow");
	close(w);
}

static int shared_fd;

static void child_maps(void) { show("a child's mapping", shared_fd, 8192, 0); }

int main(void) {
	struct sigaction sa = {.sa_handler = onbus};
	if (sigaction(SIGBUS, &sa, NULL) != 0)
		die("sigaction");
	// data, 8 KiB of 'a', is made by the test before the run: a file
	// this client made itself is leased for reads alone for a while.
	int w;
	int fd = open("data", O_RDONLY);
	if (fd < 0)
		die("open");
	lease(fd, 0);
	show("first", fd, 8192, 0);
	show("again", fd, 8192, 0);
	show("second page", fd, 4096, 4096);
	int other = open("data", O_RDONLY);
	if (other < 0)
		die("open other");
	show("another description", other, 8192, 0);
	close(other);

	w = open("data", O_WRONLY);
	if (w < 0 || pwrite(w, "bbbb", 4, 0) != 4 || close(w) != 0)
		die("pwrite");
	show("after a write", fd, 8192, 0);
	lease(fd, 0);
	show("again after a write", fd, 8192, 0);

	child(child_writes);
	show("after a child's write", fd, 8192, 0);
	lease(fd, 4096);
	show("again after a child's write", fd, 8192, 0);

	// The mappings above stay held: a new mapping of a file a child
	// grew must show the grown bytes, though the client's cache of the
	// file ended at the old size.
	child(child_grows);
	show("after growing", fd, 12288, 0);
	lease(fd, 8192);
	show("again after growing", fd, 12288, 0);

	// A private copy-on-write page holds another byte: mappings after
	// it still show the file's.
	char *cow = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (cow == MAP_FAILED)
		die("mmap cow");
	cow[0] = 'z';
	show("beside a written private page", fd, 4096, 0);
	printf("the written page: %c\n", cow[0]);

	shared_fd = fd;
	child(child_maps);

	w = open("data", O_WRONLY);
	if (w < 0 || ftruncate(w, 4096) != 0 || close(w) != 0)
		die("shrink");
	show("after shrinking", fd, 8192, 0);
	lease(fd, 0);
	show("again after shrinking", fd, 8192, 0);
	unmap_all();
	close(fd);
	unlink("data");
	printf("done\n");
	return 0;
}
