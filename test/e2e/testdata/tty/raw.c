// Puts its terminal in raw mode (as line editors, vi and less do), echoes
// the code of each key as it comes (Ctrl-C is a key, not a signal, in raw
// mode) until 'q', then puts the modes back and says whether canonical
// mode is on again.
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

int main(void) {
  struct termios t, saved, back;
  if (tcgetattr(0, &t) != 0) {
    perror("tcgetattr");
    return 1;
  }
  saved = t;
  cfmakeraw(&t);
  if (tcsetattr(0, TCSANOW, &t) != 0) {
    perror("tcsetattr");
    return 1;
  }
  printf("raw-ready\r\n");
  fflush(stdout);
  for (;;) {
    unsigned char c;
    if (read(0, &c, 1) != 1) break;
    printf("key-%02x\r\n", c);
    fflush(stdout);
    if (c == 'q') break;
  }
  tcsetattr(0, TCSANOW, &saved);
  if (tcgetattr(0, &back) != 0) {
    perror("tcgetattr");
    return 1;
  }
  printf("canonical-%d\n", (back.c_lflag & ICANON) ? 1 : 0);
  return 0;
}
