// Private mappings of a file whose server file id changes gen: each round
// rewrites a line of the file's second page at the same size, then chmods
// it (its ctime moves after the write: the server's next plan of it comes
// at a new gen, and the client refreshes its pages in place,
// sentry/server/mapped), maps it privately again and prints what the new
// mapping and two mappings held since the start show: one never written,
// which shows the file's current bytes as on Linux, and one whose first
// page was written to (a private copy, which a refresh must keep; gVisor
// copies the pages around a written one too, so only that page is
// printed). A server kill restores the ids at gen 0, so the next plan
// refreshes too.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096
#define SIZE (2 * PAGE)

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 300;
  int fd = open("mapped.dat", O_CREAT | O_RDWR | O_TRUNC, 0644);
  static char buf[SIZE];
  memset(buf, 'a', sizeof buf);
  if (fd < 0 || pwrite(fd, buf, SIZE, 0) != SIZE) {
    perror("create");
    return 1;
  }
  char *held = mmap(NULL, SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
  char *cow = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (held == MAP_FAILED || cow == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  memcpy(cow, "private copy", 12);
  for (int r = 0; r < rounds; r++) {
    char line[32];
    snprintf(line, sizeof line, "round %06d", r);
    if (pwrite(fd, line, strlen(line), PAGE + 16 * (r % 8)) != (ssize_t)strlen(line) || fchmod(fd, r % 2 ? 0644 : 0600) != 0) {
      perror("change");
      return 1;
    }
    char *m = mmap(NULL, SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      perror("mmap");
      return 1;
    }
    unsigned sum = 0;
    for (int i = 0; i < SIZE; i++)
      sum = sum * 31 + (unsigned char)m[i];
    printf("%d new %.12s %.128s %08x held %s copy %.12s\n", r, m, m + PAGE, sum,
           memcmp(held, m, SIZE) == 0 ? "current" : "stale", cow);
    munmap(m, SIZE);
  }
  return 0;
}
