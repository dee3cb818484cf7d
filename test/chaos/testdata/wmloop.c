// Loops of writes that the client merges into the queued write behind
// before them (sentry/client/writemerge.go): sequential writes of mixed
// sizes to one file, rewound to its start every 16 rounds (an lseek
// between two runs), contiguous 4 KiB pwrite runs, O_APPEND writes, and
// a read back of each round's run. Killing the server mid-loop must
// lose no acknowledged byte and write none twice: the files and the
// output must equal a native run's.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100;
  int seq = open("seq.bin", O_CREAT | O_RDWR | O_TRUNC, 0644);
  int blk = open("blocks.bin", O_CREAT | O_WRONLY | O_TRUNC, 0644);
  int app = open("app.txt", O_CREAT | O_WRONLY | O_APPEND | O_TRUNC, 0644);
  if (seq < 0 || blk < 0 || app < 0) {
    perror("open");
    return 1;
  }
  static unsigned char b[4096], r[65536];
  unsigned long bad = 0;
  for (int i = 0; i < n; i++) {
    if (i % 16 == 0 && lseek(seq, 0, SEEK_SET) != 0) {
      perror("lseek");
      return 1;
    }
    off_t start = lseek(seq, 0, SEEK_CUR);
    size_t run = 0;
    for (int j = 0; j < 24; j++) {
      size_t m = 512 + (size_t)((i * 131 + j * 97) % 1536);
      memset(b, (unsigned char)(i * 24 + j), m);
      snprintf((char *)b, 32, "r%d w%d", i, j);
      if (write(seq, b, m) != (ssize_t)m) {
        perror("write");
        return 1;
      }
      run += m;
    }
    if (run <= sizeof r && (pread(seq, r, run, start) != (ssize_t)run || r[0] != 'r'))
      bad++;
    off_t base = (off_t)(i % 32) * 128 * 1024;
    for (int j = 0; j < 32; j++) {
      memset(b, (unsigned char)(i + j), sizeof b);
      snprintf((char *)b, 32, "round %d block %d", i, j);
      if (pwrite(blk, b, sizeof b, base + (off_t)j * 4096) != (ssize_t)sizeof b) {
        perror("pwrite");
        return 1;
      }
    }
    for (int j = 0; j < 8; j++) {
      char line[64];
      int m = snprintf(line, sizeof line, "round %d line %d\n", i, j);
      if (write(app, line, m) != m) {
        perror("append");
        return 1;
      }
    }
  }
  if (fsync(seq) != 0 || fsync(blk) != 0 || fsync(app) != 0) perror("fsync");
  printf("%d rounds, %lu bad reads\n", n, bad);
  return 0;
}
