// Two processes write one shared file mapping for many rounds, mixing
// stores with msync, pwrite and a counter both increment, then the parent
// prints a checksum of the file read with read(2). The file and the
// output must be the same with and without server kills.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
#define PAGES 64
#define ROUNDS 4000

static void die(const char *what) {
  perror(what);
  exit(1);
}

// work stores into this process's half of the pages (even or odd), bumps
// the shared counter, and makes forwarded calls between stores.
static void work(char *p, int fd, int odd) {
  char line[64];
  volatile uint32_t *counter = (volatile uint32_t *)(p + (PAGES - 1) * PG);
  for (int r = 0; r < ROUNDS; r++) {
    int page = 2 * (r % (PAGES / 2 - 1)) + odd;
    int off = (r / (PAGES / 2 - 1)) * 48 % (PG - 48);
    int n = snprintf(line, sizeof line, "%c round %d page %d\n", odd ? 'c' : 'p', r, page);
    memcpy(p + page * PG + off, line, n);
    __sync_fetch_and_add(counter, 1);
    if (r % 16 == 0 && msync(p + page * PG, PG, MS_SYNC) < 0) die("msync");
    if (r % 5 == 0) {
      // A write(2) to the same file, in this process's own slot of the
      // last page but one.
      if (pwrite(fd, line, 16, (PAGES - 2) * PG + odd * 2048 + (r % 100) * 16) != 16) die("pwrite");
    }
    if (getppid() < 0) die("getppid");
  }
}

int main(void) {
  int fd = open("shared.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open");
  if (ftruncate(fd, PAGES * PG) < 0) die("ftruncate");
  char *p = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    work(p, fd, 1);
    _exit(0);
  }
  work(p, fd, 0);
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("child");
  printf("counter %u\n", *(volatile uint32_t *)(p + (PAGES - 1) * PG));
  if (munmap(p, PAGES * PG) < 0) die("munmap");
  close(fd);
  // The stores reached the file: read it back with read(2).
  fd = open("shared.bin", O_RDONLY);
  if (fd < 0) die("reopen");
  uint64_t h = 1469598103934665603ULL;
  char buf[PG];
  ssize_t n;
  long total = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
    total += n;
  }
  printf("read %ld bytes, fnv %016llx\n", total, (unsigned long long)h);
  return 0;
}
