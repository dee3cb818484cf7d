// Reads and writes of open regular files, the calls a server serves
// through the host fd its gofer donated: read/pread/readv and
// write/pwrite/writev at offsets and past the end, O_APPEND, a file's
// size and times after writes (fstat), a shared mapping's page reads and
// write-back, a read-only fd refusing writes, and a file unlinked while
// open (its link count). Prints what it saw; the sandbox's output must
// match a native run's.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static uint32_t sum(const unsigned char *b, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  return h;
}

static void res(const char *what, long r) {
  if (r < 0)
    printf("%s: %s\n", what, strerror(errno));
  else
    printf("%s: %ld\n", what, r);
}

int main(void) {
  static unsigned char buf[1 << 20], back[1 << 20];
  struct stat st;
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7 + i / 4096);

  int fd = open("data", O_CREAT | O_RDWR | O_TRUNC, 0644);
  res("open data", fd < 0 ? -1 : 0);
  long total = 0;
  for (int i = 0; i < 256; i++) total += write(fd, buf + i * 4096, 4096);
  res("256 writes of 4 KiB", total);
  fstat(fd, &st);
  printf("size %ld blocks>0 %d\n", (long)st.st_size, st.st_blocks > 0);
  res("pwrite past the end", pwrite(fd, "tail", 4, (1 << 20) + 100));
  fstat(fd, &st);
  printf("size %ld\n", (long)st.st_size);
  res("pread the hole", pread(fd, back, 8, (1 << 20) + 96));
  printf("hole bytes %d %d %d %d then %.4s\n", back[0], back[1], back[2], back[3], back + 4);
  res("pread 1 MiB", pread(fd, back, sizeof back, 0));
  printf("sum equal %d\n", sum(back, sizeof back) == sum(buf, sizeof buf));
  res("pread at the end", pread(fd, back, 16, (1 << 20) + 104));
  res("pread far past the end", pread(fd, back, 16, 1L << 40));

  struct iovec iov[3] = {{buf, 100}, {buf + 5000, 3000}, {buf + 9000, 1}};
  res("pwritev", pwritev(fd, iov, 3, 50));
  unsigned char a[100], b[3000], c[1];
  struct iovec riov[3] = {{a, 100}, {b, 3000}, {c, 1}};
  res("preadv", preadv(fd, riov, 3, 50));
  printf("preadv equal %d %d %d\n", !memcmp(a, buf, 100), !memcmp(b, buf + 5000, 3000), c[0] == buf[9000]);
  lseek(fd, 10, SEEK_SET);
  res("writev at the offset", writev(fd, iov, 2));
  res("offset after writev", lseek(fd, 0, SEEK_CUR));
  res("read at the offset", read(fd, back, 4096));
  res("offset after read", lseek(fd, 0, SEEK_CUR));
  res("ftruncate", ftruncate(fd, 8192));
  fstat(fd, &st);
  printf("size after truncate %ld\n", (long)st.st_size);
  res("read after truncate", pread(fd, back, 8192 * 2, 4096));

  // A shared mapping: pages read, then stored to and written back.
  unsigned char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    res("mmap", -1);
  } else {
    pread(fd, back, 8192, 0);
    printf("mapping equals the file %d\n", !memcmp(m, back, 8192));
    memcpy(m + 4000, "STORED", 6);
    res("msync", msync(m, 8192, MS_SYNC));
    res("pread the stored bytes", pread(fd, back, 6, 4000));
    printf("read back %.6s\n", back);
    res("pwrite into the mapped range", pwrite(fd, "WRITTEN", 7, 100));
    printf("mapping sees %.7s\n", m + 100);
    munmap(m, 8192);
  }
  res("fsync", fsync(fd));
  res("fdatasync", fdatasync(fd));

  // O_APPEND writes land at the end, whatever the offset says.
  int lg = open("log", O_CREAT | O_WRONLY | O_APPEND, 0644);
  for (int i = 0; i < 5; i++) {
    char line[32];
    int n = snprintf(line, sizeof line, "line %d\n", i);
    lseek(lg, 0, SEEK_SET);
    write(lg, line, n);
  }
  fstat(lg, &st);
  printf("log size %ld\n", (long)st.st_size);
  close(lg);

  // A read-only fd reads, and refuses writes.
  int ro = open("data", O_RDONLY);
  res("read-only read", read(ro, back, 10));
  res("read-only write", write(ro, "x", 1));
  res("read-only pwrite", pwrite(ro, "x", 1, 0));
  close(ro);

  // Unlinked while open: still read and written, link count 0.
  int un = open("gone", O_CREAT | O_RDWR, 0644);
  write(un, "before", 6);
  res("unlink while open", unlink("gone"));
  res("write after unlink", write(un, "after", 5));
  fstat(un, &st);
  printf("unlinked: size %ld nlink %ld\n", (long)st.st_size, (long)st.st_nlink);
  res("pread after unlink", pread(un, back, 11, 0));
  printf("content %.11s\n", back);
  close(un);

  close(fd);
  int again = open("data", O_RDONLY);
  res("reopened read", read(again, back, sizeof back));
  fstat(again, &st);
  printf("reopened size %ld sum %08x\n", (long)st.st_size, sum(back, 8192));
  close(again);
  return 0;
}
