// A reader that re-reads a file it holds open while another process
// rewrites it: the parent reads version.txt through one description
// (read in small chunks from offset 0, pread, fstat) many times per
// version, the child rewrites it in place, tells the
// parent each new version over a pipe and waits for its answer on
// another before the next. The parent's reads are answered
// from the client's read cache while its lease holds; every rewrite must
// revoke it, and a server kill must drop it (the new server never
// granted it) without losing the offset the cached reads advanced.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

// content is version v's text. Every version has the same length: the
// writer overwrites the file in place (a truncation between the writes
// is another test's matter).
static void content(int v, char *buf, size_t n) {
  snprintf(buf, n, "version %06d of the file, checksum %08x\n", v, (unsigned)v * 2654435761u);
}

int main(int argc, char **argv) {
  int versions = argc > 1 ? atoi(argv[1]) : 300;
  int fd = open("version.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
  char want[256];
  content(0, want, sizeof want);
  if (fd < 0 || write(fd, want, strlen(want)) != (ssize_t)strlen(want)) {
    perror("create");
    return 1;
  }
  close(fd);
  int r = open("version.txt", O_RDONLY);
  int p[2], q[2];
  if (r < 0 || pipe(p) != 0 || pipe(q) != 0) {
    perror("open");
    return 1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    close(q[1]);
    close(r); // the parent's description is then its own
    int w = open("version.txt", O_WRONLY);
    if (w < 0)
      _exit(1);
    for (int v = 1; v <= versions; v++) {
      char buf[256];
      content(v, buf, sizeof buf);
      if (pwrite(w, buf, strlen(buf), 0) != (ssize_t)strlen(buf))
        _exit(2);
      int ack;
      if (write(p[1], &v, sizeof v) != sizeof v || read(q[0], &ack, sizeof ack) != sizeof ack || ack != v)
        _exit(3);
    }
    _exit(0);
  }
  close(p[1]);
  close(q[0]);
  long reads = 0, bad = 0;
  int v;
  while (read(p[0], &v, sizeof v) == sizeof v) {
    content(v, want, sizeof want);
    for (int k = 0; k < 5; k++) {
      char got[256];
      size_t n = 0;
      if (lseek(r, 0, SEEK_SET) != 0) {
        perror("lseek");
        return 1;
      }
      ssize_t m;
      while ((m = read(r, got + n, 7)) > 0 && n < sizeof got - 8)
        n += m;
      got[n] = 0;
      struct stat st;
      char again[256];
      ssize_t pn = pread(r, again, sizeof again - 1, 0);
      if (pn >= 0)
        again[pn] = 0;
      int stated = fstat(r, &st);
      off_t cur = lseek(r, 0, SEEK_CUR);
      if (strcmp(got, want) != 0 || pn < 0 || strcmp(again, want) != 0 || stated != 0 ||
          st.st_size != (off_t)strlen(want) || cur != (off_t)strlen(want)) {
        if (bad++ < 3)
          fprintf(stderr, "version %d, read %d: offset %ld, size %ld, read %s, pread %s", v, k, (long)cur,
                  (long)st.st_size, got, again);
      }
      reads++;
    }
    if (write(q[1], &v, sizeof v) != sizeof v) {
      perror("ack");
      return 1;
    }
  }
  int status;
  waitpid(pid, &status, 0);
  printf("writer %d, %d versions, %s\n", WEXITSTATUS(status), versions, bad ? "STALE READS" : "every read current");
  if (bad)
    fprintf(stderr, "%ld of %ld reads stale\n", bad, reads);
  return bad != 0;
}
