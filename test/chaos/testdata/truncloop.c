// Size changes between writes to the same files: ftruncate, truncate(2),
// an O_TRUNC open, fallocate (punch a hole, zero a range, allocate past
// the end, collapse and insert a range) each followed or preceded by a
// pwrite, mostly shorter than what the file held. The program keeps a
// model of each file and compares the file with it after every step: a
// write re-applied after a later size change (or a size change lost)
// shows as a mismatch, printed, and in the files the harness compares.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NFILES 8
#define MAXSIZE (4 * 4096)

static unsigned char model[NFILES][MAXSIZE];
static size_t msize[NFILES];
static int fds[NFILES];
static unsigned long bad;

static void die(const char *what, int i) {
  fprintf(stderr, "%s at step %d: %s\n", what, i, strerror(errno));
  exit(1);
}

static void mwrite(int f, const unsigned char *b, size_t n, size_t off) {
  memcpy(model[f] + off, b, n);
  if (off + n > msize[f]) msize[f] = off + n;
}

static void mresize(int f, size_t n) {
  if (n > msize[f]) memset(model[f] + msize[f], 0, n - msize[f]);
  msize[f] = n;
}

static void ppwrite(int f, const unsigned char *b, size_t n, size_t off, int i) {
  if (pwrite(fds[f], b, n, off) != (ssize_t)n) die("pwrite", i);
  mwrite(f, b, n, off);
}

static void check(int f, int i) {
  static unsigned char got[MAXSIZE + 1];
  struct stat st;
  if (fstat(fds[f], &st) != 0) die("fstat", i);
  ssize_t n = pread(fds[f], got, sizeof got, 0);
  if (n < 0) die("pread", i);
  if ((size_t)st.st_size != msize[f] || (size_t)n != msize[f] || memcmp(got, model[f], msize[f]) != 0) {
    if (bad < 5) printf("step %d file %d: size %lld, read %zd, want %zu\n", i, f, (long long)st.st_size, n, msize[f]);
    bad++;
  }
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  char path[NFILES][16];
  for (int f = 0; f < NFILES; f++) {
    snprintf(path[f], sizeof path[f], "t%d.bin", f);
    fds[f] = open(path[f], O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fds[f] < 0) die("open", -1);
  }
  static unsigned char b[MAXSIZE];
  unsigned long unsupported = 0;
  for (int i = 0; i < n; i++) {
    // Each file has its turn (so the early ones keep what the kills
    // did to them); the steps cycle through the kinds of size change.
    int f = (int)((long)i * NFILES / n);
    size_t len = 46 + (size_t)((i * 7919) % 300);
    memset(b, 'A' + i % 26, sizeof b);
    snprintf((char *)b, 24, "step %d", i);
    // Collapsing and inserting ranges makes the host write the file
    // back first: slow, so only now and then.
    int step = i % 8 == 7 && i % 64 != 7 ? 0 : i % 8;
    switch (step) {
      case 0:  // ftruncate to 0, then a write
        if (ftruncate(fds[f], 0) != 0) die("ftruncate", i);
        mresize(f, 0);
        ppwrite(f, b, len, 0, i);
        break;
      case 1: {  // an O_TRUNC open, a write through it
        int t = open(path[f], O_WRONLY | O_TRUNC);
        if (t < 0) die("open O_TRUNC", i);
        mresize(f, 0);
        if (write(t, b, len) != (ssize_t)len) die("write", i);
        mwrite(f, b, len, 0);
        close(t);
        break;
      }
      case 2:  // truncate(path), then a write
        if (truncate(path[f], 0) != 0) die("truncate", i);
        mresize(f, 0);
        ppwrite(f, b, len, 0, i);
        break;
      case 3:  // shrink to the middle, a short write at the start
        if (ftruncate(fds[f], msize[f] / 2) != 0) die("ftruncate", i);
        mresize(f, msize[f] / 2);
        ppwrite(f, b, len / 4, 0, i);
        break;
      case 4: {  // a write past the end, then a truncate into it
        size_t cut = msize[f] + len - len / 3;
        ppwrite(f, b, len, msize[f], i);
        if (ftruncate(fds[f], cut) != 0) die("ftruncate", i);
        msize[f] = cut;
        break;
      }
      case 5:  // a write, a hole punched into it, a zeroed range
        ppwrite(f, b, len, 0, i);
        if (fallocate(fds[f], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, len / 4, len / 2) == 0) {
          memset(model[f] + len / 4, 0, len / 2);
        } else if (errno == EOPNOTSUPP) {
          unsupported++;
        } else {
          die("fallocate punch", i);
        }
        if (fallocate(fds[f], FALLOC_FL_ZERO_RANGE, 8, 8) == 0) {
          memset(model[f] + 8, 0, 8);
        } else if (errno == EOPNOTSUPP) {
          unsupported++;
        } else {
          die("fallocate zero", i);
        }
        break;
      case 6:  // allocate past the end, then cut back below the write
        if (fallocate(fds[f], 0, msize[f], len) == 0) {
          mresize(f, msize[f] + len);
        } else if (errno == EOPNOTSUPP) {
          unsupported++;
        } else {
          die("fallocate", i);
        }
        if (ftruncate(fds[f], len / 2) != 0) die("ftruncate", i);
        mresize(f, len / 2);
        ppwrite(f, b, len / 8, len / 4, i);
        break;
      case 7:  // three blocks, collapse the first, insert one, a short write
        if (ftruncate(fds[f], 0) != 0) die("ftruncate", i);
        mresize(f, 0);
        for (int k = 0; k < 3; k++) {
          memset(b, 'a' + (i + k) % 26, 4096);
          ppwrite(f, b, 4096, (size_t)k * 4096, i);
        }
        if (fallocate(fds[f], FALLOC_FL_COLLAPSE_RANGE, 0, 4096) == 0) {
          memmove(model[f], model[f] + 4096, msize[f] - 4096);
          msize[f] -= 4096;
        } else if (errno == EOPNOTSUPP || errno == EINVAL) {
          unsupported++;
        } else {
          die("fallocate collapse", i);
        }
        if (fallocate(fds[f], FALLOC_FL_INSERT_RANGE, 4096, 4096) == 0) {
          memmove(model[f] + 8192, model[f] + 4096, msize[f] - 4096);
          memset(model[f] + 4096, 0, 4096);
          msize[f] += 4096;
        } else if (errno == EOPNOTSUPP || errno == EINVAL) {
          unsupported++;
        } else {
          die("fallocate insert", i);
        }
        memset(b, 'A' + i % 26, len);
        ppwrite(f, b, len, 100, i);
        break;
    }
    check(f, i);
  }
  unsigned long sum = 0;
  for (int f = 0; f < NFILES; f++) {
    unsigned long h = 14695981039346656037UL;
    for (size_t k = 0; k < msize[f]; k++) h = (h ^ model[f][k]) * 1099511628211UL;
    sum ^= h;
    check(f, n);
    printf("t%d.bin %zu bytes\n", f, msize[f]);
  }
  printf("%d steps, %lu mismatches, %lu unsupported, model %016lx\n", n, bad, unsupported, sum);
  return 0;
}
