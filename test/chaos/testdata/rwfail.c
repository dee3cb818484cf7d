// The workload of chaos TestRewriteFailed (rewritefail.go): 4 KiB
// records written with pwrite through one description to d/data (d is a
// small tmpfs), and record 0 again after the loss, in steps the test
// drives: each step prints "step NAME" and waits for a line on stdin.
// The first line is k, the records written before the test kills the
// gofer; AFTER more follow it. Between
// the steps the test makes the host lose the records written after the
// gofer's death, fills the disk, frees it, and kills and restarts the
// daemons. It prints what each fsync and syncfs returned, how many of
// the records' bytes the file lacks while the test holds the disk full,
// and, at the end, whether the file holds every record.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC 4096
#define AFTER 8

static void step(const char *name, char *line, size_t len) {
  printf("step %s\n", name);
  fflush(stdout);
  size_t n = 0;
  for (;;) {
    char ch;
    ssize_t r = read(0, &ch, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fprintf(stderr, "step %s: stdin ended\n", name);
      exit(2);
    }
    if (ch == '\n') break;
    if (n + 1 < len) line[n++] = ch;
  }
  line[n] = 0;
}

// record fills b with record i as version v writes it: 64-byte lines
// naming them.
static void record(char *b, int i, int v) {
  char line[65];
  for (int j = 0; j < REC / 64; j++) {
    snprintf(line, sizeof line, "record %6d version %d line %2d %30s\n", i, v, j, "");
    memcpy(b + j * 64, line, 64);
  }
}

// result says what a call that returned r left in errno.
static const char *result(int r, int err) {
  static char buf[4][32];
  static int next;
  if (r == 0) return "0";
  char *s = buf[next++ % 4];
  switch (err) {
  case EIO: return "EIO";
  case ENOSPC: return "ENOSPC";
  default: snprintf(s, 32, "errno %d", err); return s;
  }
}

int main(int argc, char **argv) {
  // closed: the description is closed before the crash, and the file
  // opened again after it.
  int closed = argc > 1 && strcmp(argv[1], "closed") == 0;
  char line[64];
  step("start", line, sizeof line);
  int k = atoi(line);
  if (k < 1 || k > 1000) {
    fprintf(stderr, "bad record count %s\n", line);
    return 2;
  }
  int n = k + AFTER;
  int fd = open("d/data", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    perror("open d/data");
    return 1;
  }
  static char b[REC], r[REC];
  for (int i = 0; i < n; i++) {
    if (i == k) step("written-before", line, sizeof line);
    record(b, i, 1);
    if (pwrite(fd, b, REC, (off_t)i * REC) != REC) {
      printf("pwrite of record %d: %s\n", i, result(-1, errno));
      return 1;
    }
    if (i < k) usleep(3000); // room for the test's kill among them
  }
  if (closed && close(fd) != 0) {
    perror("close");
    return 1;
  }
  step("written-after", line, sizeof line);
  if (closed && (fd = open("d/data", O_WRONLY)) < 0) {
    perror("open d/data again");
    return 1;
  }

  // Record 0 again, in place: a full disk takes it (its page is there).
  // Its sync passes the lost records, which the server holds failed.
  record(b, 0, 2);
  ssize_t w = pwrite(fd, b, REC, 0);
  printf("record 0 again: %s\n", w == REC ? "0" : result(-1, errno));
  int r1 = fsync(fd), e1 = errno;
  int r2 = fsync(fd), e2 = errno;
  int r3 = syncfs(fd), e3 = errno;
  int r4 = syncfs(fd), e4 = errno;
  printf("after the loss: fsync %s, again %s; syncfs %s, again %s\n", result(r1, e1), result(r2, e2), result(r3, e3),
         result(r4, e4));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    perror("fstat");
    return 1;
  }
  printf("missing while held: %lld bytes\n", (long long)n * REC - (long long)st.st_size);
  step("reported", line, sizeof line);

  int r8 = fsync(fd), e8 = errno;
  int r9 = fsync(fd), e9 = errno;
  printf("the disk still full: fsync %s, again %s\n", result(r8, e8), result(r9, e9));
  step("reported-again", line, sizeof line);

  int r5 = fsync(fd), e5 = errno;
  int r6 = syncfs(fd), e6 = errno;
  int r7 = close(fd), e7 = errno;
  printf("after the room: fsync %s; syncfs %s; close %s\n", result(r5, e5), result(r6, e6), result(r7, e7));
  int rd = open("d/data", O_RDONLY);
  if (rd < 0 || fstat(rd, &st) != 0) {
    perror("reopen d/data");
    return 1;
  }
  int wrong = 0;
  for (int i = 0; i < n; i++) {
    record(b, i, i == 0 ? 2 : 1);
    if (pread(rd, r, REC, (off_t)i * REC) != REC || memcmp(r, b, REC) != 0) wrong++;
  }
  printf("records %d, wrong or missing %d, size %lld\n", n, wrong, (long long)st.st_size);
  return wrong != 0 || st.st_size != (off_t)n * REC;
}
