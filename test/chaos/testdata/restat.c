// A process that asks about paths another process changes: at each step
// the child replaces d/f (a new file renamed over it, of a new size),
// chmods it, creates or removes d/n<k> and points the symlink d/l at
// d/f or d/g, tells the parent the step over a pipe and waits for its
// answer on another. The parent then asks about those paths several
// times (stat, lstat, access, readlink: after the first, answered from
// the client's path cache while its lease holds) and checks every answer
// against what the step must have left. Every change must revoke the
// lease, and a server kill must drop it (the new server never granted
// it).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void fail(const char *what, int step) {
  printf("step %d: %s (errno %d)\n", step, what, errno);
  exit(1);
}

// The state step v leaves: d/f's size and mode, whether d/n<v> exists,
// what d/l points at.
static size_t size_of(int v) { return (size_t)(v % 50); }
static mode_t mode_of(int v) { return v % 2 ? 0755 : 0644; }
static int has_n(int v) { return v % 3 == 0; }
static const char *link_of(int v) { return v % 4 < 2 ? "f" : "g"; }

static void change(int v) {
  char buf[64];
  memset(buf, 'x', sizeof buf);
  int fd = open("d/tmp", O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0 || write(fd, buf, size_of(v)) != (ssize_t)size_of(v) || close(fd) != 0)
    fail("write d/tmp", v);
  if (rename("d/tmp", "d/f") != 0)
    fail("rename", v);
  if (chmod("d/f", mode_of(v)) != 0)
    fail("chmod", v);
  char n[64];
  snprintf(n, sizeof n, "d/n%d", v);
  if (has_n(v)) {
    fd = open(n, O_CREAT | O_WRONLY, 0600);
    if (fd < 0 || close(fd) != 0)
      fail("create n", v);
  }
  if (v > 0 && has_n(v - 1)) {
    snprintf(n, sizeof n, "d/n%d", v - 1);
    if (unlink(n) != 0)
      fail("unlink n", v);
  }
  if (strcmp(link_of(v), link_of(v - 1)) != 0) {
    if (unlink("d/l") != 0 || symlink(link_of(v), "d/l") != 0)
      fail("symlink", v);
  }
}

static void check(int v) {
  struct stat st;
  if (stat("d/f", &st) != 0)
    fail("stat d/f", v);
  if ((size_t)st.st_size != size_of(v) || (st.st_mode & 07777) != mode_of(v)) {
    printf("step %d: d/f has size %ld mode %o, want %zu %o\n", v, (long)st.st_size, st.st_mode & 07777, size_of(v),
           mode_of(v));
    exit(1);
  }
  int x = access("d/f", X_OK) == 0;
  if (x != (v % 2)) {
    printf("step %d: access X_OK %d\n", v, x);
    exit(1);
  }
  char n[64];
  snprintf(n, sizeof n, "d/n%d", v);
  int has = lstat(n, &st) == 0;
  if (has != has_n(v) || (!has && errno != ENOENT)) {
    printf("step %d: %s there: %d\n", v, n, has);
    exit(1);
  }
  if (v > 0) {
    snprintf(n, sizeof n, "d/n%d", v - 1);
    if (lstat(n, &st) == 0 || errno != ENOENT) {
      printf("step %d: %s still there\n", v, n);
      exit(1);
    }
  }
  char target[16];
  ssize_t k = readlink("d/l", target, sizeof target - 1);
  if (k < 0)
    fail("readlink", v);
  target[k] = 0;
  if (strcmp(target, link_of(v)) != 0) {
    printf("step %d: d/l -> %s, want %s\n", v, target, link_of(v));
    exit(1);
  }
  int through = stat("d/l", &st) == 0;
  if (through != (strcmp(link_of(v), "f") == 0)) {
    printf("step %d: stat through d/l: %d\n", v, through);
    exit(1);
  }
}

int main(int argc, char **argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 300;
  if (mkdir("d", 0755) != 0 || symlink("f", "d/l") != 0)
    fail("setup", 0);
  change(0);
  check(0);
  int p[2], q[2];
  if (pipe(p) != 0 || pipe(q) != 0)
    fail("pipe", 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    close(q[1]);
    for (int v = 1; v <= steps; v++) {
      change(v);
      int ack;
      if (write(p[1], &v, sizeof v) != sizeof v || read(q[0], &ack, sizeof ack) != sizeof ack || ack != v)
        _exit(3);
    }
    _exit(0);
  }
  close(p[1]);
  close(q[0]);
  for (int v = 1; v <= steps; v++) {
    int got;
    if (read(p[0], &got, sizeof got) != sizeof got || got != v)
      fail("pipe read", v);
    for (int i = 0; i < 5; i++)
      check(v);
    if (write(q[1], &v, sizeof v) != sizeof v)
      fail("pipe write", v);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid || status != 0) {
    printf("child status %d\n", status);
    return 1;
  }
  printf("restat: %d steps\n", steps);
  return 0;
}
