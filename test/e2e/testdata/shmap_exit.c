// Stores through a shared file mapping, then exits at once: no msync, no
// munmap, no close. The stores must reach the file.
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ftruncate(fd, 8192) < 0) return 1;
  char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return 2;
  strcpy(p, "first page");
  strcpy(p + 4096, "second page");
  return 0;
}
