// Two threads: one makes directories, symlinks and FIFOs, the other removes
// each as soon as it exists, so that a creation and the removal that
// follows it are often both in flight (their replies not yet back) when
// the server is killed. Every call must succeed exactly once.
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int n;

static void fail(const char *what, int i) {
  printf("%s %d: %s\n", what, i, strerror(errno));
  fflush(stdout);
  exit(1);
}

static void *remover(void *arg) {
  (void)arg;
  char p[64];
  for (int i = 0; i < n; i++) {
    int k = i % 3;
    snprintf(p, sizeof p, k == 0 ? "d%d" : k == 1 ? "s%d" : "p%d", i);
    for (;;) {
      int r = k == 0 ? rmdir(p) : unlink(p);
      if (r == 0) break;
      if (errno != ENOENT) fail(k == 0 ? "rmdir" : "unlink", i);
      sched_yield();
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  n = argc > 1 ? atoi(argv[1]) : 1000;
  pthread_t t;
  pthread_create(&t, NULL, remover, NULL);
  char p[64];
  for (int i = 0; i < n; i++) {
    int k = i % 3;
    snprintf(p, sizeof p, k == 0 ? "d%d" : k == 1 ? "s%d" : "p%d", i);
    if (k == 0 && mkdir(p, 0755) != 0) fail("mkdir", i);
    if (k == 1 && symlink("target", p) != 0) fail("symlink", i);
    if (k == 2 && mkfifo(p, 0644) != 0) fail("mkfifo", i);
  }
  pthread_join(t, NULL);
  printf("%d created and removed\n", n);
  return 0;
}
