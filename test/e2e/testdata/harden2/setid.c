/* Set-user-ID and set-group-ID bits as Linux keeps them, for a root
 * parent: chmod, create, chown (root and owner), writes and truncates by
 * a non-root writer, set-group-ID directories, and execve of set-id
 * programs (the euid/egid they give, AT_SECURE, no_new_privs). Runs in
 * its working directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void mode(const char *what, const char *path) {
	struct stat st;
	if (stat(path, &st) != 0) {
		printf("%s: stat %s: %s\n", what, path, strerror(errno));
	} else {
		printf("%s: %s mode %04o uid %d gid %d\n", what, path, st.st_mode & 07777, st.st_uid, st.st_gid);
	}
	fflush(stdout);
}

static void check(const char *what, int r) {
	if (r < 0) {
		printf("%s: %s\n", what, strerror(errno));
		fflush(stdout);
	}
}

static void mk(const char *path, mode_t m) {
	unlink(path);
	int fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	check("create", fd);
	check("write", write(fd, "data", 4));
	close(fd);
	check("chmod", chmod(path, m));
}

/* asUser runs fn in a child with uid and gid 1000 (no capabilities). */
static void asUser(void (*fn)(void)) {
	pid_t p = fork();
	if (p == 0) {
		if (setgid(1000) != 0 || setuid(1000) != 0) {
			perror("drop");
			_exit(1);
		}
		fn();
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
}

static void userWrite(void) {
	int fd = open("w", O_WRONLY);
	check("open w", fd);
	check("write w", write(fd, "x", 1));
	close(fd);
	check("truncate t", truncate("t", 1));
	int fd2 = open("w0", O_WRONLY);
	check("write w0 (0 bytes)", write(fd2, "", 0));
	close(fd2);
}

static void userChmod(void) {
	/* A chmod setting setgid of a group the owner is not in. */
	check("chmod own 02755", chmod("own", 02755));
}

static void probe(void) {
	printf("probe: uid %d euid %d gid %d egid %d secure %lu\n", getuid(), geteuid(), getgid(), getegid(),
	       getauxval(AT_SECURE));
	fflush(stdout);
}

static char *self;

static void execAs(const char *prog, int nnp) {
	pid_t p = fork();
	if (p == 0) {
		if (setgid(1000) != 0 || setuid(1000) != 0) {
			perror("drop");
			_exit(1);
		}
		if (nnp)
			prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		char *argv[] = {(char *)prog, "probe", NULL};
		execv(prog, argv);
		printf("exec %s: %s\n", prog, strerror(errno));
		_exit(1);
	}
	int st;
	waitpid(p, &st, 0);
}

static void copySelf(const char *dst) {
	int in = open(self, O_RDONLY), out = open(dst, O_CREAT | O_TRUNC | O_WRONLY, 0755);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0) {
		if (write(out, buf, n) != n) {
			perror("copy");
			exit(1);
		}
	}
	close(in);
	close(out);
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "probe") == 0) {
		probe();
		return 0;
	}
	self = realpath("/proc/self/exe", NULL);
	umask(0);

	/* chmod and create keep the bits (LTP chmod01, creat08). */
	static const mode_t modes[] = {04777, 02777, 06755, 01777, 04000, 02710};
	for (unsigned i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		char what[32];
		snprintf(what, sizeof what, "chmod %04o", modes[i]);
		mk("f", modes[i]);
		mode(what, "f");
	}
	unlink("c");
	close(open("c", O_CREAT | O_WRONLY, 06755));
	mode("create 06755", "c");
	unlink("fifo");
	check("mkfifo", mkfifo("fifo", 0644));
	check("chmod fifo", chmod("fifo", 06555));
	mode("fifo chmod 06555", "fifo");

	/* chown by root (LTP chown02, chown03): set-user-ID goes; set-group-ID
	 * goes with group execute, stays without. */
	static const mode_t cm[] = {06755, 06745, 02745, 04700};
	for (unsigned i = 0; i < sizeof cm / sizeof cm[0]; i++) {
		char what[32];
		mk("f", cm[i]);
		check("chown", chown("f", 1000, 1000));
		snprintf(what, sizeof what, "chown %04o", cm[i]);
		mode(what, "f");
		mk("f", cm[i]);
		check("chgrp", chown("f", -1, 1000));
		snprintf(what, sizeof what, "chgrp %04o", cm[i]);
		mode(what, "f");
		mk("f", cm[i]);
		check("fchown", fchown(open("f", O_RDONLY), 0, 0));
		snprintf(what, sizeof what, "fchown same %04o", cm[i]);
		mode(what, "f");
	}
	/* chown(-1, -1) changes no owner but still clears them. */
	mk("f", 06755);
	check("chown -1 -1", chown("f", -1, -1));
	mode("chown -1 -1 06755", "f");

	/* A directory keeps both. */
	rmdir("d");
	check("mkdir", mkdir("d", 0755));
	check("chmod d", chmod("d", 06755));
	check("chown d", chown("d", 1000, 1000));
	mode("chown dir 06755", "d");

	/* Writes and truncates by a non-root writer clear them. */
	mk("w", 06777);
	mk("w0", 06777);
	mk("t", 06767);
	asUser(userWrite);
	mode("user write 06777", "w");
	mode("user write 0 bytes 06777", "w0");
	mode("user truncate 06767", "t");
	/* A root writer keeps them. */
	mk("r", 06777);
	int fd = open("r", O_WRONLY);
	check("root write", write(fd, "x", 1));
	close(fd);
	mode("root write 06777", "r");

	/* An owner outside the file's group cannot set setgid. */
	mk("own", 0755);
	check("chown own", chown("own", 1000, 0));
	asUser(userChmod);
	mode("owner chmod 02755 (not in group)", "own");

	/* Set-group-ID directories (LTP open10, mkdir02). */
	rmdir("sg/sub");
	unlink("sg/file");
	unlink("sg/fx");
	rmdir("sg");
	check("mkdir sg", mkdir("sg", 0777));
	check("chown sg", chown("sg", 0, 1234));
	check("chmod sg", chmod("sg", 02777));
	mode("setgid dir", "sg");
	check("mkdir sg/sub", mkdir("sg/sub", 0755));
	mode("subdir of setgid dir", "sg/sub");
	close(open("sg/file", O_CREAT | O_WRONLY, 0644));
	mode("file in setgid dir", "sg/file");
	close(open("sg/fx", O_CREAT | O_WRONLY, 02755));
	mode("root file 02755 in setgid dir", "sg/fx");

	/* execve of set-id programs by uid 1000. */
	copySelf("suid");
	check("chmod suid", chmod("suid", 04755));
	copySelf("sgid");
	check("chown sgid", chown("sgid", 0, 4321));
	check("chmod sgid", chmod("sgid", 02755));
	copySelf("sgidnx");
	check("chown sgidnx", chown("sgidnx", 0, 4321));
	check("chmod sgidnx", chmod("sgidnx", 02745));
	copySelf("plain");
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		return 1;
	const char *names[] = {"suid", "sgid", "sgidnx", "plain"};
	for (int i = 0; i < 4; i++) {
		char path[4200];
		snprintf(path, sizeof path, "%s/%s", cwd, names[i]);
		printf("exec %s:\n", names[i]);
		fflush(stdout);
		execAs(path, 0);
	}
	char path[4200];
	snprintf(path, sizeof path, "%s/suid", cwd);
	printf("exec suid with no_new_privs:\n");
	fflush(stdout);
	execAs(path, 1);
	return 0;
}
