// A file unlinked while open or mapped leaves its directory at once:
// the directory lists empty and can be removed, fstat says st_nlink 0,
// and the data stays readable through the fd and the mapping
// (pjdfstest unlink/14; LTP mprotect02/03, mremap01, msync01-03 cleanups).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int entries(const char *dir) {
	DIR *d = opendir(dir);
	if (!d) return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			printf("  entry %s\n", e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

int main(int argc, char **argv) {
	if (argc != 2 || chdir(argv[1])) {
		perror("usage: unlink_open DIR");
		return 2;
	}
	// Open, then unlink.
	mkdir("d", 0755);
	int fd = open("d/f", O_CREAT | O_RDWR, 0644);
	write(fd, "Hello, World!", 13);
	int ro = open("d/f", O_RDONLY);
	printf("unlink: %d\n", unlink("d/f"));
	struct stat st;
	fstat(ro, &st);
	printf("nlink after unlink: %ld\n", (long)st.st_nlink);
	printf("entries: %d\n", entries("d"));
	char buf[32] = {0};
	printf("pread: %zd %s\n", pread(ro, buf, 13, 0), buf);
	printf("rmdir while open: %d\n", rmdir("d"));
	close(fd);
	close(ro);

	// Mapped (fd closed), then unlinked; removed after munmap.
	mkdir("m", 0755);
	fd = open("m/f", O_CREAT | O_RDWR, 0644);
	ftruncate(fd, 4096);
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	strcpy(p, "mapped");
	printf("unlink mapped: %d\n", unlink("m/f"));
	printf("entries: %d\n", entries("m"));
	printf("mapping: %s\n", p);
	printf("msync: %d\n", msync(p, 4096, MS_SYNC));
	printf("rmdir while mapped: %d\n", rmdir("m"));
	munmap(p, 4096);

	// The name can be made again at once, in a fresh directory.
	mkdir("d", 0755);
	fd = open("d/f", O_CREAT | O_EXCL | O_RDWR, 0644);
	printf("recreate: %s\n", fd >= 0 ? "ok" : strerror(errno));
	printf("entries: %d\n", entries("d"));
	close(fd);
	unlink("d/f");
	printf("rmdir: %d\n", rmdir("d"));
	return 0;
}
