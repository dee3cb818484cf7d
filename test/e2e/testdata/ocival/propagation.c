// Mount propagation as runtime-tools' runtimetest checks
// linux.rootfsPropagation: bind / under itself, bind a directory
// elsewhere, and see whether it shows through the bind of /; a bind from
// an unbindable mount is EINVAL. mountinfo's optional fields are printed
// with their group numbers replaced by whether they match the root's.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char cwd[4096];

// fields prints the optional fields of the mountinfo line whose mount
// point is target, numbers replaced by "root" when they are the root's
// shared group, else "other".
static void fields(const char *name, const char *target) {
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192], rootgroup[32] = "";
	char found[256] = "none";
	if (!f) { printf("%s: mountinfo errno %d\n", name, errno); return; }
	while (fgets(line, sizeof line, f)) {
		char mp[4096], opt[4096] = "";
		int id, parent;
		if (sscanf(line, "%d %d %*s %*s %4095s", &id, &parent, mp) != 3) continue;
		char *p = strstr(line, " - ");
		if (!p) continue;
		*p = 0;
		// Skip the six fixed fields.
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
				char *colon = strchr(tok, ':');
				char out[64];
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
	fclose(f);
	printf("%s: [%s]\n", name, found);
}

static int domount(const char *what, const char *src, const char *dst, unsigned long flags) {
	int r = mount(src, dst, NULL, flags, NULL);
	printf("%s: %d errno %d\n", what, r, r ? errno : 0);
	return r;
}

static void run(const char *mode) {
	char target[8192], mnt[8192], test[8192], file[8192], seen[16384];
	printf("== %s\n", mode);
	snprintf(target, sizeof target, "%s/target-%s", cwd, mode);
	snprintf(mnt, sizeof mnt, "%s/mount-%s", cwd, mode);
	snprintf(test, sizeof test, "%s/test-%s", cwd, mode);
	snprintf(file, sizeof file, "%s/example", test);
	mkdir(target, 0755); mkdir(mnt, 0755); mkdir(test, 0755);
	close(open(file, O_CREAT | O_WRONLY, 0644));
	domount("private /", NULL, "/", MS_REC | MS_PRIVATE);
	unsigned long root = 0;
	if (!strcmp(mode, "shared") || !strcmp(mode, "slave")) root = MS_SHARED;
	if (!strcmp(mode, "unbindable")) root = MS_UNBINDABLE;
	if (root) domount("propagation of /", NULL, "/", root);
	fields("/", "/");
	if (domount("bind / at target", "/", target, MS_BIND | MS_REC)) return;
	if (!strcmp(mode, "slave")) domount("target slave", NULL, target, MS_SLAVE);
	fields("target", target);
	snprintf(seen, sizeof seen, "%s%s", target, target);
	fields("target in target", seen);
	domount("bind test at mount", test, mnt, MS_BIND | MS_REC);
	snprintf(seen, sizeof seen, "%s%s/example", target, mnt);
	struct stat st;
	printf("exposed through target: %s\n", stat(seen, &st) == 0 ? "yes" : "no");
	snprintf(seen, sizeof seen, "%s%s", target, mnt);
	fields("copy in target", seen);
	fields("mount", mnt);
	printf("umount mount: %d\n", umount2(mnt, MNT_DETACH));
	snprintf(seen, sizeof seen, "%s%s/example", target, mnt);
	printf("exposed after its umount: %s\n", stat(seen, &st) == 0 ? "yes" : "no");
	printf("umount target: %d\n", umount2(target, MNT_DETACH));
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!getcwd(cwd, sizeof cwd)) return 1;
	const char *modes[] = {"private", "shared", "slave", "unbindable"};
	for (int i = 0; i < 4; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			// Natively, each case in a mount namespace of its own (as
			// runtimetest's runtime gives it); the sandbox has one
			// mount table, which each case resets to private first.
			(void)unshare(CLONE_NEWNS);
			run(modes[i]);
			_exit(0);
		}
		int status;
		waitpid(pid, &status, 0);
	}
	return 0;
}
