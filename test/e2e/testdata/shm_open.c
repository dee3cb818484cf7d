// POSIX shared memory and named semaphores, which live in /dev/shm:
// shm_open, ftruncate, a shared mapping written by a child, sem_open with
// sem_post/sem_wait between processes, shm_unlink and sem_unlink.
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *shm = argc > 1 ? argv[1] : "/rd-e2e-shm";
  const char *semname = argc > 2 ? argv[2] : "/rd-e2e-sem";
  struct stat st;
  if (stat("/dev/shm", &st) < 0) die("stat /dev/shm");
  printf("/dev/shm is a directory: %d, sticky: %d\n", S_ISDIR(st.st_mode), (st.st_mode & S_ISVTX) != 0);

  int fd = shm_open(shm, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) die("shm_open");
  if (ftruncate(fd, 8192) < 0) die("ftruncate");
  char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  sem_t *sem = sem_open(semname, O_CREAT | O_EXCL, 0600, 0);
  if (sem == SEM_FAILED) die("sem_open");

  pid_t pid = fork();
  if (pid == 0) {
    strcpy(p + 4096, "hello through /dev/shm");
    if (sem_post(sem) < 0) die("sem_post");
    _exit(0);
  }
  if (sem_wait(sem) < 0) die("sem_wait");
  printf("parent sees: %s\n", p + 4096);
  int st2;
  waitpid(pid, &st2, 0);

  // A second open of the same name sees the data through read(2).
  int fd2 = shm_open(shm, O_RDONLY, 0);
  if (fd2 < 0) die("shm_open again");
  char buf[32] = {0};
  if (pread(fd2, buf, 22, 4096) != 22) die("pread");
  printf("second fd reads: %s\n", buf);
  close(fd2);
  if (fstat(fd, &st) < 0) die("fstat");
  printf("size %lld\n", (long long)st.st_size);

  if (shm_open(shm, O_RDWR | O_CREAT | O_EXCL, 0600) >= 0) printf("O_EXCL open of an existing name succeeded\n");
  if (shm_unlink(shm) < 0) die("shm_unlink");
  printf("after shm_unlink: %s\n", shm_open(shm, O_RDONLY, 0) < 0 ? "gone" : "still there");
  printf("mapping still holds: %s\n", p + 4096);
  if (sem_unlink(semname) < 0) die("sem_unlink");
  munmap(p, 8192);
  close(fd);
  return 0;
}
