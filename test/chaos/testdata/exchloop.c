// Swaps two names with renameat2(RENAME_EXCHANGE) N times, checking
// after each swap what each name holds against the count of swaps made:
// an exchange in flight at a kill and re-sent must be applied once (run
// twice, it swaps the names back).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static void fail(const char *what, int step) {
  printf("step %d: %s (errno %d)\n", step, what, errno);
  exit(1);
}

static void put(const char *name, char c) {
  int fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0 || write(fd, &c, 1) != 1 || close(fd) != 0)
    fail("create", -1);
}

static char holds(const char *name, int step) {
  char c;
  int fd = open(name, O_RDONLY);
  if (fd < 0 || read(fd, &c, 1) != 1 || close(fd) != 0)
    fail("read", step);
  return c;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  put("x.a", 'A');
  put("x.b", 'B');
  for (int i = 1; i <= n; i++) {
    if (syscall(SYS_renameat2, AT_FDCWD, "x.a", AT_FDCWD, "x.b", RENAME_EXCHANGE) != 0)
      fail("renameat2", i);
    char a = holds("x.a", i), b = holds("x.b", i);
    char wa = i % 2 ? 'B' : 'A', wb = i % 2 ? 'A' : 'B';
    if (a != wa || b != wb) {
      printf("step %d: x.a holds %c and x.b %c, want %c and %c\n", i, a, b, wa, wb);
      return 1;
    }
  }
  printf("%d exchanges: x.a holds %c, x.b %c\n", n, holds("x.a", n), holds("x.b", n));
  unlink("x.a");
  unlink("x.b");
  return 0;
}
