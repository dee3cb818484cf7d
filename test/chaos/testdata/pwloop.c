// A write loop through open regular files, the calls a server on the
// gofer's machine serves through donated host fds: 4 KiB pwrites over
// a 2 MiB file (overwriting blocks again and again), a pread check of
// every 8th, and sequential writes to a second file. Killing the
// gofer or the server mid-loop must lose no acknowledged write: the
// files and the output must equal a native run's.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  int fd = open("blocks.bin", O_CREAT | O_RDWR | O_TRUNC, 0644);
  int seq = open("seq.bin", O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0 || seq < 0) {
    perror("open");
    return 1;
  }
  static unsigned char b[4096], r[4096];
  unsigned long bad = 0;
  for (int i = 0; i < n; i++) {
    int blk = (i * 37) % 512;
    memset(b, (unsigned char)(i * 13), sizeof b);
    snprintf((char *)b, 40, "block %d write %d", blk, i);
    if (pwrite(fd, b, sizeof b, (off_t)blk * 4096) != (ssize_t)sizeof b) {
      perror("pwrite");
      return 1;
    }
    if (i % 8 == 0 && (pread(fd, r, sizeof r, (off_t)blk * 4096) != (ssize_t)sizeof r || memcmp(r, b, sizeof b) != 0))
      bad++;
    char line[64];
    int m = snprintf(line, sizeof line, "write %d to block %d\n", i, blk);
    if (write(seq, line, m) != m) {
      perror("write");
      return 1;
    }
  }
  if (fsync(fd) != 0) perror("fsync");
  printf("%d writes, %lu bad reads\n", n, bad);
  return 0;
}
