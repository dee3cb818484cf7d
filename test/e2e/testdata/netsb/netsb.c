// netsb: small network probes run in a sandbox with --network=sandbox
// and natively in the same network namespace; their output must match.
//
//   netsb client IP PORT MSG    TCP: connect, send MSG, print the reply
//                               (IP may be IPv6)
//   netsb serve PORT N          TCP: listen on every address, serve N
//                               connections one after the other (read a
//                               line, answer "pong:" LINE), print them;
//                               creates ./listening once it listens
//   netsb udp IP PORT MSG       UDP: send MSG, print the reply
//   netsb sink PORT             TCP: accept one connection, read it to
//                               the end, print the byte count and a sum
//   netsb source IP PORT BYTES  TCP: connect, write BYTES bytes of a
//                               pattern, close, print the count
//   netsb hold IP PORT          TCP: connect, send "one\n", print the
//                               reply line, create ./phase1, wait for
//                               ./go, then send "two\n" and print what
//                               the send and a read return (errno)
//   netsb ifaces                print the non-loopback IPv4 interfaces
//                               (SIOCGIFCONF, SIOCGIFHWADDR, SIOCGIFMTU)
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in addr(const char *ip, const char *port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(port));
  if (ip != NULL && inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", ip);
    exit(2);
  }
  return a;
}

static void die(const char *what) {
  printf("%s: errno %d\n", what, errno);
  exit(1);
}

static int client(const char *ip, const char *port, const char *msg) {
  // An IPv6 address (it has a colon) connects over AF_INET6.
  struct sockaddr_storage ss;
  socklen_t sl;
  int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
  memset(&ss, 0, sizeof ss);
  if (family == AF_INET6) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(atoi(port));
    if (inet_pton(AF_INET6, ip, &a6->sin6_addr) != 1) {
      fprintf(stderr, "bad address %s\n", ip);
      exit(2);
    }
    sl = sizeof *a6;
  } else {
    *(struct sockaddr_in *)&ss = addr(ip, port);
    sl = sizeof(struct sockaddr_in);
  }
  int s = socket(family, SOCK_STREAM, 0);
  if (s < 0) die("socket");
  if (connect(s, (struct sockaddr *)&ss, sl) < 0) die("connect");
  if (write(s, msg, strlen(msg)) != (ssize_t)strlen(msg)) die("write");
  shutdown(s, SHUT_WR);
  char buf[4096];
  size_t got = 0;
  for (;;) {
    ssize_t n = read(s, buf + got, sizeof buf - 1 - got);
    if (n < 0) die("read");
    if (n == 0) break;
    got += n;
  }
  buf[got] = 0;
  printf("client got %zu bytes: %s\n", got, buf);
  close(s);
  return 0;
}

static int serve(const char *port, int count) {
  struct sockaddr_in a = addr(NULL, port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) die("socket");
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(s, 8) < 0) die("listen");
  close(open("listening", O_CREAT | O_WRONLY, 0644));
  for (int i = 0; i < count; i++) {
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int c = accept(s, (struct sockaddr *)&peer, &pl);
    if (c < 0) die("accept");
    char buf[1024];
    size_t got = 0;
    while (got < sizeof buf - 1) {
      ssize_t n = read(c, buf + got, 1);
      if (n < 0) die("read");
      if (n == 0 || buf[got] == '\n') break;
      got++;
    }
    buf[got] = 0;
    char ip[32];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    printf("served %d: from %s: %s\n", i, ip, buf);
    fflush(stdout);
    char reply[1100];
    int rl = snprintf(reply, sizeof reply, "pong:%s\n", buf);
    if (write(c, reply, rl) != rl) die("write");
    close(c);
  }
  close(s);
  return 0;
}

static int udp(const char *ip, const char *port, const char *msg) {
  struct sockaddr_in a = addr(ip, port);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) die("socket");
  struct timeval tv = {5, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // The first datagram may be lost while the neighbour is resolved:
  // send again until a reply comes.
  for (int try = 0; try < 5; try++) {
    if (sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a) < 0) die("sendto");
    char buf[2048];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &fl);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) die("recvfrom");
    buf[n] = 0;
    char fip[32];
    inet_ntop(AF_INET, &from.sin_addr, fip, sizeof fip);
    printf("udp reply from %s:%d: %s\n", fip, ntohs(from.sin_port), buf);
    return 0;
  }
  printf("udp: no reply\n");
  return 1;
}

static int sink(const char *port) {
  struct sockaddr_in a = addr(NULL, port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) die("socket");
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(s, 1) < 0) die("listen");
  close(open("listening", O_CREAT | O_WRONLY, 0644));
  int c = accept(s, NULL, NULL);
  if (c < 0) die("accept");
  static char buf[1 << 16];
  unsigned long long total = 0, sum = 0;
  for (;;) {
    ssize_t n = read(c, buf, sizeof buf);
    if (n < 0) die("read");
    if (n == 0) break;
    for (ssize_t i = 0; i < n; i++) sum = sum * 31 + (unsigned char)buf[i];
    total += n;
  }
  printf("sink: %llu bytes, sum %llx\n", total, sum);
  return 0;
}

static int source(const char *ip, const char *port, long long bytes) {
  struct sockaddr_in a = addr(ip, port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) die("socket");
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  static char buf[1 << 16];
  long long sent = 0;
  while (sent < bytes) {
    size_t chunk = sizeof buf;
    if ((long long)chunk > bytes - sent) chunk = bytes - sent;
    for (size_t i = 0; i < chunk; i++) buf[i] = (char)((sent + i) * 7 + ((sent + i) >> 11));
    ssize_t n = write(s, buf, chunk);
    if (n < 0) die("write");
    sent += n;  // after a short write the pattern goes on from sent
  }
  close(s);
  printf("source: %lld bytes\n", sent);
  return 0;
}

static int hold(const char *ip, const char *port) {
  struct sockaddr_in a = addr(ip, port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) die("socket");
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  if (write(s, "one\n", 4) != 4) die("write");
  char buf[256];
  ssize_t n = read(s, buf, sizeof buf - 1);
  if (n < 0) die("read");
  buf[n] = 0;
  printf("before: %s", buf);
  close(open("phase1", O_CREAT | O_WRONLY, 0644));
  while (access("go", F_OK) != 0) usleep(10000);
  errno = 0;
  n = send(s, "two\n", 4, MSG_NOSIGNAL);
  printf("after send: %zd errno %d\n", n, n < 0 ? errno : 0);
  errno = 0;
  n = read(s, buf, sizeof buf - 1);
  printf("after read: %zd errno %d\n", n, n < 0 ? errno : 0);
  return 0;
}

static int ifaces(void) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) die("socket");
  struct ifreq reqs[16];
  struct ifconf ifc = {.ifc_len = sizeof reqs, .ifc_req = reqs};
  if (ioctl(s, SIOCGIFCONF, &ifc) < 0) die("SIOCGIFCONF");
  for (size_t i = 0; i < ifc.ifc_len / sizeof(struct ifreq); i++) {
    struct ifreq r = reqs[i];
    if (strcmp(r.ifr_name, "lo") == 0) continue;
    char ip[32];
    inet_ntop(AF_INET, &((struct sockaddr_in *)&r.ifr_addr)->sin_addr, ip, sizeof ip);
    if (ioctl(s, SIOCGIFHWADDR, &r) < 0) die("SIOCGIFHWADDR");
    unsigned char *m = (unsigned char *)r.ifr_hwaddr.sa_data;
    char mac[32];
    snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    if (ioctl(s, SIOCGIFMTU, &r) < 0) die("SIOCGIFMTU");
    printf("%s %s %s mtu %d index %d\n", r.ifr_name, ip, mac, r.ifr_mtu, if_nametoindex(r.ifr_name));
  }
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 5 && strcmp(argv[1], "client") == 0) return client(argv[2], argv[3], argv[4]);
  if (argc == 4 && strcmp(argv[1], "serve") == 0) return serve(argv[2], atoi(argv[3]));
  if (argc == 5 && strcmp(argv[1], "udp") == 0) return udp(argv[2], argv[3], argv[4]);
  if (argc == 2 && strcmp(argv[1], "ifaces") == 0) return ifaces();
  if (argc == 3 && strcmp(argv[1], "sink") == 0) return sink(argv[2]);
  if (argc == 4 && strcmp(argv[1], "hold") == 0) return hold(argv[2], argv[3]);
  if (argc == 5 && strcmp(argv[1], "source") == 0) return source(argv[2], argv[3], atoll(argv[4]));
  fprintf(stderr, "usage: netsb client IP PORT MSG | serve PORT N | udp IP PORT MSG | sink PORT | source IP PORT BYTES | hold IP PORT | ifaces\n");
  return 2;
}
