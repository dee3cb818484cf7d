// Makes a directory as an unprivileged user (nobody), takes its write
// permission away and tries to make names in it: mkdir fails EACCES
// (after its lookup found no such name), an unlink ENOENT, an open that
// creates EACCES; with the permission back, the mkdir succeeds and a
// second one fails EEXIST. Under do the client answers the first mkdir
// EACCES and posts the later one from its copy of the directory's
// complete names (sentry/client/postmkdir.go); the output must be the
// native one. Last, it takes the search permission of the directory
// away: no name under it is found (EACCES), though the client holds the
// complete names of a directory in it.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

int main(void) {
  umask(0);
  if (chmod(".", 0755) != 0 || mkdir("t", 0777) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
    printf("setup: %s\n", strerror(errno));
    return 1;
  }
  printf("mkdir u: %s\n", err(mkdir("t/u", 0755)));
  struct stat st;
  printf("chmod u 0500: %s\n", err(chmod("t/u", 0500)));
  int rc = stat("t/u", &st);
  printf("stat u: %s, mode %o\n", err(rc), (int)(st.st_mode & 07777));
  printf("mkdir u/x: %s\n", err(mkdir("t/u/x", 0755)));
  printf("mkdir u/x again: %s\n", err(mkdir("t/u/x", 0755)));
  printf("unlink u/y: %s\n", err(unlink("t/u/y")));
  printf("create u/z: %s\n", err(open("t/u/z", O_WRONLY | O_CREAT, 0644)));
  printf("chmod u 0700: %s\n", err(chmod("t/u", 0700)));
  rc = stat("t/u", &st);
  printf("stat u: %s, mode %o\n", err(rc), (int)(st.st_mode & 07777));
  printf("mkdir u/x: %s\n", err(mkdir("t/u/x", 0755)));
  printf("mkdir u/x again: %s\n", err(mkdir("t/u/x", 0755)));
  rc = stat("t/u/x", &st);
  printf("stat u/x: %s, mode %o\n", err(rc), (int)(st.st_mode & 07777));
  // Search permission taken from u: nothing under it is found, though
  // the client holds the complete names of u/x (EACCES, not ENOENT).
  printf("chmod u 0600: %s\n", err(chmod("t/u", 0600)));
  printf("unlink u/x/y: %s\n", err(unlink("t/u/x/y")));
  printf("mkdir u/x/y: %s\n", err(mkdir("t/u/x/y", 0755)));
  printf("create u/x/z: %s\n", err(open("t/u/x/z", O_WRONLY | O_CREAT, 0644)));
  printf("chmod u 0700: %s\n", err(chmod("t/u", 0700)));
  printf("unlink u/x/y: %s\n", err(unlink("t/u/x/y")));
  return 0;
}
