// Extracts files as busybox tar does, one after another: for t/d<j>/f<k>
// it makes each leading directory (mkdir; EEXIST when it exists) and
// stats it, unlinks the name (ENOENT: it is new) and creates it. Every
// seventh file it renames the directory it went into away, so that the
// next mkdir of that name must make it again. The client answers the
// mkdir of a directory it knows exists (and stats it knows) from its
// path cache; every answer must be the one the model says, though a kill
// takes the leases with the server and the calls in flight are re-sent.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIRS 4

static void fail(const char *what, int k, int want, int got) {
  printf("file %d: %s: errno %d, want %d\n", k, what, got, want);
  exit(1);
}

// expect runs a call's result against the errno the model wants.
static void expect(const char *what, int k, int rc, int want) {
  int got = rc == 0 ? 0 : errno;
  if (got != want)
    fail(what, k, want, got);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  int exists[DIRS] = {0};
  int renamed = 0;
  struct stat st;
  for (int k = 0; k < n; k++) {
    int j = k % DIRS;
    char dir[64], path[64];
    snprintf(dir, sizeof dir, "t/d%d", j);
    snprintf(path, sizeof path, "%s/f%d", dir, k);
    expect("mkdir t", k, mkdir("t", 0755), k == 0 ? 0 : EEXIST);
    expect("stat t", k, stat("t", &st), 0);
    if (!S_ISDIR(st.st_mode))
      fail("t is no directory", k, 0, 0);
    expect("mkdir dir", k, mkdir(dir, 0755), exists[j] ? EEXIST : 0);
    exists[j] = 1;
    expect("stat dir", k, stat(dir, &st), 0);
    if (!S_ISDIR(st.st_mode))
      fail("dir is no directory", k, 0, 0);
    expect("unlink", k, unlink(path), ENOENT);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
      fail("create", k, 0, errno);
    char line[32];
    int len = snprintf(line, sizeof line, "%d\n", k);
    if (write(fd, line, len) != len || close(fd) != 0)
      fail("write", k, 0, errno);
    expect("stat file", k, stat(path, &st), 0);
    if (st.st_size != len)
      fail("file size", k, len, (int)st.st_size);
    if (k % 7 == 6) {
      char away[64];
      snprintf(away, sizeof away, "t/old%d", renamed++);
      expect("rename dir away", k, rename(dir, away), 0);
      exists[j] = 0;
      expect("stat renamed dir", k, stat(dir, &st), ENOENT);
    }
  }
  printf("%d files, %d directories renamed away\n", n, renamed);
  return 0;
}
