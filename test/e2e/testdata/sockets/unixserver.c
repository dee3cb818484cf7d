// An AF_UNIX stream server and a forked client on a path name and on an
// abstract name; datagrams with addresses; name errors.
#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static socklen_t mkaddr(struct sockaddr_un *a, const char *name, int abstract) {
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (abstract) {
		strcpy(a->sun_path + 1, name);
		return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	}
	strcpy(a->sun_path, name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

static void show(const char *what, struct sockaddr_un *a, socklen_t l) {
	if (l <= offsetof(struct sockaddr_un, sun_path)) printf("%s: len %d unnamed\n", what, l);
	else if (a->sun_path[0] == 0) printf("%s: len %d abstract %.*s\n", what, l, (int)(l - 3), a->sun_path + 1);
	else printf("%s: len %d path %s\n", what, l, a->sun_path);
}

static void serve(const char *name, int abstract) {
	struct sockaddr_un a;
	socklen_t al = mkaddr(&a, name, abstract);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	TRY("bind", bind(ls, (struct sockaddr *)&a, al));
	int other = socket(AF_UNIX, SOCK_STREAM, 0);
	TRY("bind taken", bind(other, (struct sockaddr *)&a, al));
	close(other);
	struct sockaddr_un got;
	socklen_t gl = sizeof got;
	getsockname(ls, (struct sockaddr *)&got, &gl);
	show("getsockname", &got, gl);
	TRY("listen", listen(ls, 4));
	if (!abstract) {
		struct stat st;
		stat(name, &st);
		printf("node is a socket: %d\n", S_ISSOCK(st.st_mode));
	}
	pid_t pid = fork();
	if (pid == 0) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, al) < 0) {
			printf("connect failed: %d\n", errno);
			_exit(1);
		}
		for (int i = 0; i < 3; i++) {
			char msg[32], buf[64] = {0};
			snprintf(msg, sizeof msg, "request %d", i);
			write(c, msg, strlen(msg));
			read(c, buf, sizeof buf - 1);
			printf("client got: %s\n", buf);
		}
		close(c);
		_exit(0);
	}
	gl = sizeof got;
	int s = accept4(ls, (struct sockaddr *)&got, &gl, SOCK_CLOEXEC);
	printf("accepted: %d\n", s >= 0);
	show("peer from accept", &got, gl);
	gl = sizeof got;
	getsockname(s, (struct sockaddr *)&got, &gl);
	show("accepted getsockname", &got, gl);
	struct ucred cr;
	socklen_t cl = sizeof cr;
	getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
	printf("peer cred is the child: %d\n", cr.pid == pid);
	char buf[64];
	ssize_t n;
	while ((n = read(s, buf, sizeof buf)) > 0) {
		char rep[80];
		int m = snprintf(rep, sizeof rep, "reply to %.*s", (int)n, buf);
		write(s, rep, m);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("client exit %d\n", WEXITSTATUS(st));
	close(s);
	close(ls);
	if (!abstract) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		TRY("connect after close", connect(c, (struct sockaddr *)&a, al));
		close(c);
		TRY("unlink", unlink(name));
	}
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	unlink("srv.sock");
	serve("srv.sock", 0);
	serve("rd-test-abstract", 1);

	// Datagrams with addresses.
	unlink("dg.sock");
	struct sockaddr_un a, b, from;
	socklen_t al = mkaddr(&a, "dg.sock", 0), bl = mkaddr(&b, "rd-dgram-client", 1);
	int srv = socket(AF_UNIX, SOCK_DGRAM, 0), cli = socket(AF_UNIX, SOCK_DGRAM, 0);
	TRY("bind dgram", bind(srv, (struct sockaddr *)&a, al));
	TRY("bind client", bind(cli, (struct sockaddr *)&b, bl));
	TRYN("sendto", sendto(cli, "ping", 4, 0, (struct sockaddr *)&a, al));
	char buf[64] = {0};
	socklen_t fl = sizeof from;
	TRYN("recvfrom", recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl));
	show("from", &from, fl);
	TRYN("reply", sendto(srv, "pong", 4, 0, (struct sockaddr *)&from, fl));
	memset(buf, 0, sizeof buf);
	TRYN("recv reply", recv(cli, buf, sizeof buf, 0));
	printf("got %s\n", buf);
	int anon = socket(AF_UNIX, SOCK_DGRAM, 0);
	sendto(anon, "x", 1, 0, (struct sockaddr *)&a, al);
	fl = sizeof from;
	recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	show("unbound sender", &from, fl);
	TRY("connect dgram", connect(anon, (struct sockaddr *)&a, al));
	TRYN("send connected dgram", send(anon, "yy", 2, 0));
	TRYN("recv", recv(srv, buf, sizeof buf, 0));
	unlink("dg.sock");

	// Errors.
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un x;
	socklen_t xl = mkaddr(&x, "no-such.sock", 0);
	TRY("connect missing path", connect(s, (struct sockaddr *)&x, xl));
	xl = mkaddr(&x, "rd-nobody-here", 1);
	TRY("connect missing abstract", connect(s, (struct sockaddr *)&x, xl));
	xl = mkaddr(&x, "/etc/passwd", 0);
	TRY("connect to a file", connect(s, (struct sockaddr *)&x, xl));
	TRY("listen unbound", listen(socket(AF_UNIX, SOCK_DGRAM, 0), 1));
	TRY("accept unlistened", accept(s, NULL, NULL));
	TRY("bind short", bind(s, (struct sockaddr *)&x, 1));
	x.sun_family = AF_INET;
	TRY("bind wrong family", bind(s, (struct sockaddr *)&x, xl));
	TRY("autobind wrong family", bind(s, (struct sockaddr *)&x, sizeof(sa_family_t)));
	x.sun_family = AF_UNIX;
	TRY("autobind", bind(s, (struct sockaddr *)&x, sizeof(sa_family_t)));
	TRY("bind again", bind(s, (struct sockaddr *)&x, sizeof(sa_family_t)));
	socklen_t gl = sizeof x;
	getsockname(s, (struct sockaddr *)&x, &gl);
	printf("autobind name len %d abstract %d\n", gl, x.sun_path[0] == 0);
	TRY("send unconnected", send(s, "x", 1, 0));
	TRY("getpeername unconnected", getpeername(s, (struct sockaddr *)&x, &gl));
	return 0;
}
