// Shared file mappings: every case prints what it saw; the output under the
// sandbox must equal the output of the same program run natively.
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int mkfile(const char *name, off_t size) {
  int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open");
  if (ftruncate(fd, size) < 0) die("ftruncate");
  return fd;
}

static char *map(int fd, size_t len, int prot, int flags) {
  char *p = mmap(NULL, len, prot, flags, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  return p;
}

static void show(const char *label, const char *p, size_t n) {
  printf("%s: \"", label);
  for (size_t i = 0; i < n; i++) putchar(p[i] >= 32 && p[i] < 127 ? p[i] : '.');
  printf("\"\n");
}

static void show_pread(const char *label, const char *name, off_t off, size_t n) {
  char buf[256] = {0};
  int fd = open(name, O_RDONLY);
  if (fd < 0) die("open");
  ssize_t r = pread(fd, buf, n, off);
  close(fd);
  printf("%s (%zd bytes)", label, r);
  show("", buf, r > 0 ? r : 0);
}

static void wait_child(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid) die("waitpid");
  printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

// LTP's pattern: a result page mapped shared before fork, written by the
// child, read by the parent through its mapping and through read(2).
static void fork_child_writes(void) {
  int fd = mkfile("f1", PG);
  char *p = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  pid_t pid = fork();
  if (pid == 0) {
    strcpy(p, "written by the child");
    p[PG - 1] = 'Z';
    _exit(0);
  }
  wait_child(pid);
  show("parent mapping", p, 21);
  char buf[32] = {0};
  if (pread(fd, buf, 21, 0) != 21) die("pread");
  show("parent read(2)", buf, 21);
  if (pread(fd, buf, 1, PG - 1) != 1) die("pread");
  show("last byte", buf, 1);
  munmap(p, PG);
  close(fd);
}

// write(2) by another process is seen through an existing mapping.
static void write_then_mapping(void) {
  int fd = mkfile("f2", 2 * PG);
  char *p = map(fd, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  p[0] = 'a';  // fault the pages in first
  pid_t pid = fork();
  if (pid == 0) {
    int fd2 = open("f2", O_WRONLY);
    if (pwrite(fd2, "from pwrite", 11, PG + 10) != 11) die("pwrite");
    _exit(0);
  }
  wait_child(pid);
  show("mapping after child's pwrite", p + PG + 10, 11);
  if (pwrite(fd, "own", 3, 1) != 3) die("pwrite");
  show("mapping after own pwrite", p, 4);
  munmap(p, 2 * PG);
  close(fd);
}

// msync(MS_SYNC), then a second descriptor reads the stores.
static void msync_then_read(void) {
  int fd = mkfile("f3", PG);
  char *p = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  strcpy(p + 100, "synced bytes");
  if (msync(p, PG, MS_SYNC) < 0) die("msync");
  show_pread("second fd after msync", "f3", 100, 12);
  strcpy(p + 200, "async");
  if (msync(p, PG, MS_ASYNC) < 0) die("msync async");
  show_pread("second fd after MS_ASYNC", "f3", 200, 5);
  printf("msync unaligned: %d\n", msync(p + 1, PG, MS_SYNC) < 0 ? -1 : 0);
  munmap(p, PG);
  close(fd);
}

// Stores, munmap, close: a fresh open sees them.
static void munmap_then_reopen(void) {
  int fd = mkfile("f4", 3 * PG);
  char *p = map(fd, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  strcpy(p + 2 * PG + 7, "after munmap");
  munmap(p, 3 * PG);
  close(fd);
  show_pread("reopened", "f4", 2 * PG + 7, 12);
}

static sigjmp_buf jb;
static void on_bus(int sig) { siglongjmp(jb, sig); }

static int probe(volatile char *p) {
  if (sigsetjmp(jb, 1) == 0) {
    char c = *p;
    (void)c;
    return 0;
  }
  return 1;
}

// ftruncate shrinks a mapped file: pages beyond the end give SIGBUS, the
// tail of the last page reads as zeros once the file grows again.
static void truncate_mapped(void) {
  signal(SIGBUS, on_bus);
  int fd = mkfile("f5", 2 * PG);
  char *p = map(fd, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  memset(p, 'x', 2 * PG);
  if (ftruncate(fd, 100) < 0) die("ftruncate");
  printf("byte 50 after shrink: %c\n", p[50]);
  printf("page 2 after shrink: %s\n", probe(p + PG + 10) ? "SIGBUS" : "readable");
  if (ftruncate(fd, 2 * PG) < 0) die("ftruncate");
  printf("page 2 after grow: %s, byte %d\n", probe(p + PG + 10) ? "SIGBUS" : "readable", p[PG + 10]);
  printf("byte 200 after grow: %d\n", p[200]);
  struct stat st;
  fstat(fd, &st);
  printf("size %lld\n", (long long)st.st_size);
  munmap(p, 2 * PG);
  close(fd);
  signal(SIGBUS, SIG_DFL);
}

// A mapping longer than the file: the file grows, then the new page is
// stored to and read back with read(2).
static void grow_under_mapping(void) {
  int fd = mkfile("f6", 10);
  char *p = map(fd, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  if (ftruncate(fd, 3 * PG + 5) < 0) die("ftruncate");
  strcpy(p + 3 * PG, "tail");
  char buf[8] = {0};
  if (pread(fd, buf, 5, 3 * PG) != 5) die("pread");
  show("grown page via read(2)", buf, 4);
  printf("byte beyond end in last page: %d\n", p[3 * PG + 100]);
  munmap(p, 4 * PG);
  close(fd);
}

// MAP_PRIVATE writes stay private; PROT_READ MAP_SHARED sees the file.
static void private_and_readonly(void) {
  int fd = mkfile("f7", PG);
  if (pwrite(fd, "original", 8, 0) != 8) die("pwrite");
  char *priv = map(fd, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
  char *ro = map(fd, PG, PROT_READ, MAP_SHARED);
  char *rw = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  memcpy(priv, "PRIVATE!", 8);
  show("private", priv, 8);
  show("file after private store", ro, 8);
  memcpy(rw + 4, "SHAR", 4);
  show("read-only sees shared store", ro, 8);
  int rdonly = open("f7", O_RDONLY);
  printf("shared writable of O_RDONLY fd: %s\n",
         mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, rdonly, 0) == MAP_FAILED ? "EACCES" : "mapped");
  close(rdonly);
  munmap(priv, PG);
  munmap(ro, PG);
  munmap(rw, PG);
  close(fd);
}

// Stores then fsync, and stores then read(2) on the same fd with no
// msync at all.
static void fsync_and_read(void) {
  int fd = mkfile("f8", PG);
  char *p = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  strcpy(p, "stored");
  char buf[8] = {0};
  if (pread(fd, buf, 6, 0) != 6) die("pread");
  show("read(2) after store", buf, 6);
  strcpy(p, "second");
  if (fsync(fd) < 0) die("fsync");
  show_pread("after fsync", "f8", 0, 6);
  munmap(p, PG);
  close(fd);
}

// Two processes store into the same page in turn; the other sees each
// store at once (one page cache).
static void ping_pong(void) {
  int fd = mkfile("f9", PG);
  volatile int *p = (volatile int *)map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < 200; i++) {
      while (p[0] != 2 * i + 1) sched_yield();
      p[1] += 1;
      p[0] = 2 * i + 2;
    }
    _exit(0);
  }
  for (int i = 0; i < 200; i++) {
    p[1] += 1;
    p[0] = 2 * i + 1;
    while (p[0] != 2 * i + 2) sched_yield();
  }
  wait_child(pid);
  printf("ping-pong counter %d\n", p[1]);
  close(fd);
  munmap((void *)p, PG);
  int n = 0;
  int fd2 = open("f9", O_RDONLY);
  if (pread(fd2, &n, 4, 4) != 4) die("pread");
  printf("counter in file %d\n", n);
  close(fd2);
}

// /dev/zero maps anonymous memory: shared between parent and child for
// MAP_SHARED, zero-filled and private for MAP_PRIVATE.
static void dev_zero(void) {
  int fd = open("/dev/zero", O_RDWR);
  if (fd < 0) die("open /dev/zero");
  char *s = map(fd, PG, PROT_READ | PROT_WRITE, MAP_SHARED);
  char *p = map(fd, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE);
  pid_t pid = fork();
  if (pid == 0) {
    strcpy(s, "zero shared");
    strcpy(p, "zero private");
    _exit(0);
  }
  wait_child(pid);
  show("/dev/zero shared", s, 11);
  printf("/dev/zero private byte %d\n", p[0]);
  munmap(s, PG);
  munmap(p, PG);
  close(fd);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc > 1 && chdir(argv[1]) < 0) die("chdir");
  fork_child_writes();
  write_then_mapping();
  msync_then_read();
  munmap_then_reopen();
  truncate_mapped();
  grow_under_mapping();
  private_and_readonly();
  fsync_and_read();
  ping_pong();
  dev_zero();
  return 0;
}
