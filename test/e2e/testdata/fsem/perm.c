/* DAC as a non-root user against root's files (pjdfstest-style): the
 * program sets up as root, then drops to uid/gid 1000 with supplementary
 * group 2000. common.h is prepended by the test. */
int main(void) {
	umask(022);
	must(mkdir("w", 0777));
	must(chmod("w", 0777));
	must(chdir("w"));
	int fd;
	must(fd = open("rootfile", O_CREAT | O_WRONLY, 0600));
	must(write(fd, "secret", 6));
	close(fd);
	must(fd = open("rootro", O_CREAT | O_WRONLY, 0644));
	close(fd);
	must(mkdir("closed", 0700));
	must(fd = open("closed/f", O_CREAT | O_WRONLY, 0644));
	close(fd);
	must(mkdir("sticky", 0777));
	must(chmod("sticky", 01777));
	must(fd = open("sticky/roots", O_CREAT | O_WRONLY, 0666));
	close(fd);
	must(mkdir("sticky/rootdir", 0777));
	must(mkdir("sgid", 0777));
	must(chown("sgid", 0, 4000));
	must(chmod("sgid", 02777));
	must(fd = open("owned", O_CREAT | O_WRONLY, 0755));
	close(fd);
	must(chown("owned", 1000, 1000));
	must(chmod("owned", 06755));
	must(fd = open("foreign", O_CREAT | O_WRONLY, 0644));
	close(fd);
	must(chown("foreign", 1000, 3000));
	must(mkdir("mydir", 0755));
	must(chown("mydir", 1000, 1000));

	/* Real and effective ids differ: access checks the real ones. */
	gid_t groups[] = {2000};
	must(setgroups(1, groups));
	must(setresgid(1000, 1000, 1000));
	must(setresuid(1000, 0, 0));
	T(access("rootfile", R_OK));
	T(faccessat(AT_FDCWD, "rootfile", R_OK, AT_EACCESS));
	T(open("rootfile", O_RDONLY) >= 0);
	must(setresuid(1000, 1000, 1000));
	T(getgroups(0, NULL));
	gid_t got[4] = {0};
	T(getgroups(4, got));
	printf("groups[0] = %u\n", got[0]);

	/* Root's private file. */
	T(open("rootfile", O_RDONLY));
	T(open("rootfile", O_WRONLY | O_TRUNC));
	T(open("rootfile", O_RDWR));
	T(truncate("rootfile", 0));
	T(access("rootfile", R_OK));
	T(access("rootfile", F_OK));
	T(access("rootro", R_OK));
	T(access("rootro", W_OK));
	T(access("rootro", X_OK));
	T(chmod("rootro", 0777));
	T(chown("rootro", 1000, -1));
	T(chown("rootro", -1, 1000));
	T(utimensat(AT_FDCWD, "rootro", NULL, 0));
	struct timespec ts[2] = {{1, 0}, {2, 0}};
	T(utimensat(AT_FDCWD, "rootro", ts, 0));
	T(link("rootro", "rootro-link")); /* protected_hardlinks */
	T(link("rootfile", "rootfile-link"));
	T(unlink("rootro"));
	T(rename("rootro", "moved"));
	T(mkdir("newdir", 0755) == 0);
	T(rmdir("newdir"));
	S("rootfile");

	/* No search permission on the directory. */
	T(open("closed/f", O_RDONLY));
	struct stat st;
	T(stat("closed/f", &st));
	T(chdir("closed"));
	T(access("closed", F_OK));

	/* The sticky directory. */
	T(unlink("sticky/roots"));
	T(rename("sticky/roots", "sticky/mine"));
	T(rmdir("sticky/rootdir"));
	T((fd = open("sticky/mine", O_CREAT | O_WRONLY, 0644)) >= 0);
	close(fd);
	T(rename("sticky/mine", "sticky/roots"));
	T(unlink("sticky/mine"));

	/* The setgid directory. */
	umask(0);
	T((fd = open("sgid/f", O_CREAT | O_WRONLY, 02755)) >= 0);
	close(fd);
	T(mkdir("sgid/d", 0755));
	S("sgid/f");
	S("sgid/d");
	umask(022);

	/* Files one owns: chmod, chgrp, set-id clearing. */
	S("owned");
	T((fd = open("owned", O_WRONLY)) >= 0);
	T(write(fd, "x", 1));
	close(fd);
	S("owned");
	T(chmod("owned", 02755));
	S("owned");
	T(chown("owned", -1, 2000));
	T(chown("owned", -1, 3000));
	T(chown("owned", 1000, -1));
	T(chown("owned", 0, -1));
	S("owned");
	T(chmod("foreign", 02755));
	S("foreign");
	T(chmod("owned", 04755));
	T(truncate("owned", 0));
	S("owned");
	T(utimensat(AT_FDCWD, "owned", ts, 0));
	T(chmod("mydir", 0500));
	T(open("mydir/x", O_CREAT | O_WRONLY, 0644));
	T(mkdir("mydir/y", 0755));
	T(chmod("mydir", 0755));
	T((fd = open("mydir/x", O_CREAT | O_WRONLY, 0644)) >= 0);
	close(fd);
	S("mydir/x");
	return 0;
}
