// Pages of a large file read through mappings while the file changes
// between them with write(2), as a linker maps the objects an assembler
// just wrote: each round rewrites a 64 KiB run of a 6 MiB file at a
// round's offset (writes behind), maps the file private, sums it whole
// and prints the sum. A client on the server's machine reads the
// mapping's pages through the host fd the server lent with the file's
// first PageRead (sentry/client/mappedfd.go), unless a write behind to
// the file is still in flight; a kill restarts the server under it.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SIZE ((6 << 20) + 77)
#define RUN (64 << 10)

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 100;
  static unsigned char buf[RUN];
  int fd = open("big.dat", O_CREAT | O_RDWR | O_TRUNC, 0644);
  if (fd < 0) {
    perror("create");
    return 1;
  }
  for (long off = 0; off < SIZE; off += RUN) {
    long n = SIZE - off < RUN ? SIZE - off : RUN;
    for (long i = 0; i < n; i++) buf[i] = (unsigned char)((off + i) * 7 + (off + i) / 4096);
    if (write(fd, buf, n) != n) {
      perror("write");
      return 1;
    }
  }
  close(fd);
  for (int r = 0; r < rounds; r++) {
    fd = open("big.dat", O_WRONLY);
    memset(buf, 'a' + r % 26, RUN);
    long off = ((long)r * 7919 * 4096) % (SIZE - RUN);
    if (fd < 0 || pwrite(fd, buf, RUN, off) != RUN) {
      perror("rewrite");
      return 1;
    }
    close(fd);
    fd = open("big.dat", O_RDONLY);
    unsigned char *p = mmap(NULL, SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (fd < 0 || p == MAP_FAILED) {
      perror("map");
      return 1;
    }
    close(fd);
    unsigned long h = 1469598103934665603UL;
    for (long i = 0; i < SIZE; i++) h = (h ^ p[i]) * 1099511628211UL;
    munmap(p, SIZE);
    printf("%d %ld %lx\n", r, off, h);
  }
  return 0;
}
