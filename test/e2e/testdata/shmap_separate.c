// Processes that map one file MAP_SHARED each on their own (not inherited
// through fork) share its pages: 32 exec'd children each add 1 to the
// file's first word through a mapping of their own, and the parent's
// mapping and the file both end at 32. (LTP's exec'd children report
// their results this way.)
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 32

int main(int argc, char **argv) {
  if (argc > 2) {
    int fd = open(argv[2], O_RDWR);
    int *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd < 0 || p == MAP_FAILED) {
      perror("child");
      return 1;
    }
    __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
    return 0;
  }
  char path[] = "counterXXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || ftruncate(fd, 4096) < 0) {
    perror("setup");
    return 1;
  }
  int *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  *p = 0;
  for (int i = 0; i < CHILDREN; i++) {
    if (fork() == 0) {
      execl("/proc/self/exe", argv[0], "child", path, (char *)0);
      _exit(9);
    }
  }
  int status, failed = 0;
  while (wait(&status) > 0) {
    failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  int v = -1;
  if (pread(fd, &v, sizeof v, 0) != sizeof v) perror("pread");
  printf("children failed %d, mapping sees %d, file has %d\n", failed, *p, v);
  unlink(path);
  return 0;
}
