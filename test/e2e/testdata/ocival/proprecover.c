// proprecover makes / shared and binds it under itself, creates "phase1"
// and waits for the file "go" (the test kills the remote sentry in
// between); then binds a directory and checks that it shows through the
// bind of / (the propagation survived), and prints mountinfo's optional
// fields of both mounts, numbers replaced by whether they match the
// root's group.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void fields(const char *name, const char *target) {
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192], rootgroup[32] = "", found[256] = "none";
	while (f && fgets(line, sizeof line, f)) {
		char mp[4096], opt[4096] = "";
		if (sscanf(line, "%*d %*d %*s %*s %4095s", mp) != 1) continue;
		char *p = strstr(line, " - ");
		if (!p) continue;
		*p = 0;
		char *q = line;
		for (int i = 0; i < 6 && q; i++) { q = strchr(q, ' '); if (q) q++; }
		if (q) snprintf(opt, sizeof opt, "%s", q);
		if (strcmp(mp, "/") == 0) {
			char *s = strstr(opt, "shared:");
			if (s) sscanf(s, "shared:%31s", rootgroup);
		}
		if (strcmp(mp, target) == 0) {
			found[0] = 0;
			char *save, *tok;
			for (tok = strtok_r(opt, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
				char *colon = strchr(tok, ':'), out[64];
				if (colon) {
					*colon = 0;
					snprintf(out, sizeof out, "%s:%s ", tok, strcmp(colon + 1, rootgroup) == 0 ? "root" : "other");
				} else {
					snprintf(out, sizeof out, "%s ", tok);
				}
				strncat(found, out, sizeof found - strlen(found) - 1);
			}
		}
	}
	if (f) fclose(f);
	printf("%s: [%s]\n", name, found);
}

int main(void) {
	char cwd[4096], target[8192], mnt[8192], test[8192], seen[16384];
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!getcwd(cwd, sizeof cwd)) return 1;
	(void)unshare(CLONE_NEWNS); // natively, a namespace of its own
	snprintf(target, sizeof target, "%s/target", cwd);
	snprintf(mnt, sizeof mnt, "%s/mnt", cwd);
	snprintf(test, sizeof test, "%s/test", cwd);
	mkdir(target, 0755); mkdir(mnt, 0755); mkdir(test, 0755);
	snprintf(seen, sizeof seen, "%s/example", test);
	close(open(seen, O_CREAT | O_WRONLY, 0644));
	printf("rprivate: %d\n", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	printf("shared: %d\n", mount(NULL, "/", NULL, MS_SHARED, NULL));
	printf("bind / at target: %d\n", mount("/", target, NULL, MS_BIND | MS_REC, NULL));
	close(open("phase1", O_CREAT | O_WRONLY, 0644));
	struct stat st;
	while (stat("go", &st) != 0) usleep(20000);
	fields("/", "/");
	fields("target", target);
	int r = mount(test, mnt, NULL, MS_BIND, NULL);
	printf("bind test at mnt: %d errno %d\n", r, r ? errno : 0);
	snprintf(seen, sizeof seen, "%s%s/example", target, mnt);
	printf("exposed through target: %s\n", stat(seen, &st) == 0 ? "yes" : "no");
	fields("mnt", mnt);
	printf("umount mnt: %d\n", umount2(mnt, MNT_DETACH));
	printf("umount target: %d\n", umount2(target, MNT_DETACH));
	return 0;
}
