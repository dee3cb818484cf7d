// Makes directories as busybox tar extracts them: t, a group directory
// t/g<j> for every 50, then t/g<j>/d<k> for each k (mode 0755 under
// umask 022, or 0700 every third), each made again (EEXIST), statted,
// and given a file; every fifth directory is removed again (rmdir of a
// non-empty one fails ENOTEMPTY; after the unlink of its file it
// succeeds) and made anew. It prints each directory's mode and link
// count, so a run under do, where the client posts the mkdirs of names
// missing from a group (its copy of the group's complete names, which a
// recovery drops: the next group's mkdir waits and brings a new copy),
// must print what a native run prints, also when the remote sentry is
// killed and the mkdirs in flight are re-sent.
//
// usage: mkdirs [N [WORDS...]]: N directories (100); the words "quiet"
// (no line a directory), "threads" (a second thread, idle in pause()
// all along, as a Go program's: the mkdirs and creations are posted
// beside it too), "slash" (each t/g<j>/d<k> made as "t/g<j>/d<k>/",
// as Go's os.MkdirAll spells the go command's work directories) and
// "touch" (each directory's file given mode 0640 and fixed times by
// name once written, as the go command its cache's entries; posted, the
// file being the process's: its line says its mode and mtime) and
// "direct" (instead of the above, a loop of a mkdir of t/g<j>/d<k> and,
// at once, the creation, write and close of its file, nothing else, as
// os.MkdirAll and a create in a loop; every name and file is checked
// after the loop: each creation waits for its directory's posted mkdir's
// reply, which brings that directory's copy of names).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fail(const char *what, int k, int want, int got) {
  printf("dir %d: %s: errno %d, want %d\n", k, what, got, want);
  exit(1);
}

// expect checks a call's result against the errno wanted.
static void expect(const char *what, int k, int rc, int want) {
  int got = rc == 0 ? 0 : errno;
  if (got != want)
    fail(what, k, want, got);
}

// makeDirect makes n directories and a file in each, nothing between
// (the word "direct"), then checks and prints them.
static int makeDirect(int n) {
  struct stat st;
  char group[64], dir[64], path[64], line[32];
  for (int k = 0; k < n; k++) {
    snprintf(group, sizeof group, "t/g%d", k / 50);
    if (k % 50 == 0)
      expect("mkdir group", k, mkdir(group, 0755), 0);
    snprintf(dir, sizeof dir, "%s/d%d", group, k);
    snprintf(path, sizeof path, "%s/f", dir);
    expect("mkdir", k, mkdir(dir, 0755), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
      fail("create", k, 0, errno);
    int len = snprintf(line, sizeof line, "%d\n", k);
    if (write(fd, line, len) != len || close(fd) != 0)
      fail("write", k, 0, errno);
  }
  for (int k = 0; k < n; k++) {
    snprintf(dir, sizeof dir, "t/g%d/d%d", k / 50, k);
    snprintf(path, sizeof path, "%s/f", dir);
    expect("stat dir", k, stat(dir, &st), 0);
    struct stat fst;
    expect("stat file", k, stat(path, &fst), 0);
    printf("d%d: mode %o, %d links, file of %ld bytes\n", k, (int)(st.st_mode & 07777), (int)st.st_nlink, (long)fst.st_size);
  }
  expect("stat t", n, stat("t", &st), 0);
  printf("%d directories, t has %d links\n", n, (int)st.st_nlink);
  return 0;
}

static void *idle(void *arg) {
  (void)arg;
  for (;;)
    pause();
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100;
  int quiet = 0, slash = 0, touch = 0, direct = 0;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "quiet") == 0) {
      quiet = 1;
    } else if (strcmp(argv[i], "slash") == 0) {
      slash = 1;
    } else if (strcmp(argv[i], "touch") == 0) {
      touch = 1;
    } else if (strcmp(argv[i], "direct") == 0) {
      direct = 1;
    } else if (strcmp(argv[i], "threads") == 0) {
      pthread_t th;
      if (pthread_create(&th, NULL, idle, NULL) != 0) {
        printf("pthread_create failed\n");
        return 1;
      }
    } else {
      printf("unknown word %s\n", argv[i]);
      return 2;
    }
  }
  struct stat st;
  umask(022);
  expect("mkdir t", -1, mkdir("t", 0755), 0);
  if (direct)
    return makeDirect(n);
  for (int k = 0; k < n; k++) {
    char group[64], groupSlash[64], dir[64], path[64];
    snprintf(group, sizeof group, "t/g%d", k / 50);
    snprintf(groupSlash, sizeof groupSlash, "%s/", group);
    if (k % 50 == 0)
      expect("mkdir group", k, mkdir(group, 0755), 0);
    snprintf(dir, sizeof dir, "%s/d%d", group, k);
    snprintf(path, sizeof path, "%s/f", dir);
    int mode = k % 3 == 2 ? 0700 : 0755;
    char made[72];
    snprintf(made, sizeof made, slash ? "%s/" : "%s", dir);
    expect("mkdir", k, mkdir(made, mode), 0);
    expect("mkdir again", k, mkdir(dir, 0777), EEXIST);
    expect("stat group", k, stat(groupSlash, &st), 0);
    expect("stat dir", k, stat(dir, &st), 0);
    if (!S_ISDIR(st.st_mode) || (st.st_mode & 07777) != mode)
      fail("mode", k, mode, st.st_mode);
    expect("unlink", k, unlink(path), ENOENT);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
      fail("create", k, 0, errno);
    char line[32];
    int len = snprintf(line, sizeof line, "%d\n", k);
    if (write(fd, line, len) != len || close(fd) != 0)
      fail("write", k, 0, errno);
    if (touch) {
      struct timespec times[2] = {{.tv_sec = 1000000 + k}, {.tv_sec = 2000000 + k}};
      struct stat fst;
      expect("chmod file", k, chmod(path, 0640), 0);
      expect("utimensat file", k, utimensat(AT_FDCWD, path, times, 0), 0);
      expect("stat file", k, stat(path, &fst), 0);
      if (!quiet)
        printf("d%d/f: mode %o, mtime %ld\n", k, (int)(fst.st_mode & 07777), (long)fst.st_mtime);
    }
    if (k % 5 == 4) {
      expect("rmdir full", k, rmdir(dir), ENOTEMPTY);
      expect("unlink file", k, unlink(path), 0);
      expect("rmdir", k, rmdir(dir), 0);
      expect("stat removed", k, stat(dir, &st), ENOENT);
      expect("mkdir anew", k, mkdir(dir, 0750), 0);
      expect("stat anew", k, stat(dir, &st), 0);
    }
    if (!quiet)
      printf("d%d: mode %o, %d links\n", k, (int)(st.st_mode & 07777), (int)st.st_nlink);
  }
  expect("stat t", n, stat("t", &st), 0);
  printf("%d directories, t has %d links\n", n, (int)st.st_nlink);
  return 0;
}
