// openclose: open+close pairs of a file the process already opened.
//   openclose loop N     N pairs of close(open(f, O_RDONLY)) while f is
//                        held O_RDWR (the benchmark's openclose row)
//   openclose fstat N    N rounds of open, fstat, close of a 4 KiB file
//   openclose read N     N rounds of open, fstat, read to the end, close
//                        of a 4 KiB file (tar's of /etc/passwd for each
//                        member): prints a sum of the bytes read
//   openclose inotify N  the loop's N pairs under an inotify watch of the
//                        directory: prints the IN_OPEN and
//                        IN_CLOSE_NOWRITE events seen (as on Linux)
//   openclose stat N     N stats of f by a relative path, no open (the
//                        benchmark's stat row)
// Each pair's fd must be the lowest free one, as on Linux.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

int main(int argc, char **argv) {
	if (argc != 3)
		return 2;
	long n = atol(argv[2]);
	int held = open("oc.tmp", O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (held < 0)
		die("open oc.tmp");
	char buf[4096];
	int reads = !strcmp(argv[1], "read");
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = 'a' + i % 26;
	if ((reads || !strcmp(argv[1], "fstat")) && pwrite(held, buf, sizeof buf, 0) != sizeof buf)
		die("pwrite");
	unsigned long sum = 0;
	int in = -1;
	if (!strcmp(argv[1], "inotify")) {
		in = inotify_init1(IN_NONBLOCK);
		if (in < 0 || inotify_add_watch(in, ".", IN_OPEN | IN_CLOSE_NOWRITE) < 0)
			die("inotify");
	}
	int want = in >= 0 ? in + 1 : held + 1;
	for (long i = 0; !strcmp(argv[1], "stat") && i < n; i++) {
		struct stat st;
		/* A path of 16 bytes or more: a copy of it is no tiny
		   allocation, which the runtime counts in blocks. */
		if (stat("./././././oc.tmp", &st) != 0 || !S_ISREG(st.st_mode))
			die("stat");
	}
	for (long i = 0; strcmp(argv[1], "stat") && i < n; i++) {
		int f = open("oc.tmp", O_RDONLY);
		if (f != want) {
			fprintf(stderr, "pair %ld: fd %d, want %d\n", i, f, want);
			return 1;
		}
		if (reads || !strcmp(argv[1], "fstat")) {
			struct stat st;
			if (fstat(f, &st) != 0 || st.st_size != sizeof buf)
				die("fstat");
		}
		if (reads) {
			char in[2048];
			ssize_t got, total = 0;
			while ((got = read(f, in, sizeof in)) > 0) {
				for (ssize_t j = 0; j < got; j++)
					sum = sum * 31 + (unsigned char)in[j] + (unsigned long)(total + j);
				total += got;
			}
			if (got < 0 || total != sizeof buf)
				die("read");
		}
		if (close(f) != 0)
			die("close");
	}
	if (in >= 0) {
		long opens = 0, closes = 0;
		char ev[64 * 1024];
		ssize_t got;
		while ((got = read(in, ev, sizeof ev)) > 0) {
			for (char *p = ev; p < ev + got;) {
				struct inotify_event *e = (struct inotify_event *)p;
				if (e->len && !strcmp(e->name, "oc.tmp")) {
					opens += (e->mask & IN_OPEN) != 0;
					closes += (e->mask & IN_CLOSE_NOWRITE) != 0;
				}
				p += sizeof *e + e->len;
			}
		}
		printf("events: %ld IN_OPEN, %ld IN_CLOSE_NOWRITE\n", opens, closes);
	} else {
		printf("%s %ld ok %lu\n", argv[1], n, sum);
	}
	close(held);
	unlink("oc.tmp");
	return 0;
}
