// readpairs ROUNDS: opens a small file, fstats it, reads it to the end and
// closes it, again and again, the way tar reads /etc/passwd and
// /etc/group for each member: once the client's path cache holds the
// open's answer, the open is posted with the fd the client chose, the
// reads are answered from the file's read lease and post lseeks of the
// description's offset, and the close takes the open and those lseeks
// back unsent. Each round also reads a second file in small pieces (more
// lseeks than the client takes back: the open is sent), seeks it
// explicitly and reads again, and every 50th round appends the checksum to
// a log, a change the server must keep. Each round sets the umask to 0
// and back, as tar does for each member (the client takes both back
// unsent), and every 25th round creates a file under a umask set just
// before it (0 or 077), whose mode must be the one that umask gives.
// Every fd, size, mode and byte read goes into the checksum, so a server
// killed with such opens, lseeks and umasks queued or in flight must come
// back with the same fds, offsets and umask for the output to match a
// native run.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long sum;

static void mix(const void *p, size_t n) {
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		sum = sum * 31 + b[i];
}

static void mixn(long v) { mix(&v, sizeof v); }

static void fill(const char *name, int lines, int seed) {
	FILE *f = fopen(name, "w");
	if (!f) {
		perror(name);
		exit(1);
	}
	for (int i = 0; i < lines; i++)
		fprintf(f, "%s line %d: %08x\n", name, i, (unsigned)(i * 2654435761u + seed));
	fclose(f);
}

static int xopen(const char *name) {
	int fd = open(name, O_RDONLY);
	if (fd < 0) {
		perror(name);
		exit(1);
	}
	return fd;
}

// readall reads fd to its end in pieces of n bytes.
static void readall(int fd, size_t n) {
	char buf[4096];
	ssize_t got;
	while ((got = read(fd, buf, n)) > 0)
		mix(buf, got);
	if (got < 0) {
		perror("read");
		exit(1);
	}
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 3000;
	fill("passwd.txt", 30, 1); // ~1 KiB: one read of 4096
	fill("group.txt", 90, 2);  // ~3 KiB: three reads of 1024
	for (int r = 0; r < rounds; r++) {
		int a = xopen("passwd.txt");
		struct stat st;
		if (fstat(a, &st) != 0) {
			perror("fstat");
			return 1;
		}
		mixn(st.st_size);
		readall(a, 4096);
		mixn(a);
		close(a);
		int b = xopen("group.txt");
		readall(b, r % 2 ? 1024 : 300);
		if (lseek(b, r % 700, SEEK_SET) < 0) {
			perror("lseek");
			return 1;
		}
		readall(b, 4096);
		mixn(b);
		close(b);
		mode_t old = umask(0);
		umask(old);
		if (r % 25 == 0) {
			char name[32];
			snprintf(name, sizeof name, "m%d.txt", r);
			umask(r % 50 ? 077 : 0);
			int m = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0666);
			umask(old);
			if (m < 0 || fstat(m, &st) != 0) {
				perror(name);
				return 1;
			}
			mixn(st.st_mode);
			close(m);
		}
		if (r % 50 == 0) {
			FILE *p = fopen("log.txt", "a");
			fprintf(p, "round %d: checksum %lx\n", r, sum);
			fclose(p);
		}
	}
	printf("%d rounds, checksum %lx\n", rounds, sum);
	return 0;
}
