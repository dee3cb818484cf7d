// procgroups: /proc/self/status's Groups line after setgroups of three
// groups and of none (each group, then a space, as Linux prints it).
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void show(void) {
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	if (!f) {
		perror("/proc/self/status");
		exit(1);
	}
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Groups:", 7)) fputs(line, stdout);
	fclose(f);
}

int main(void) {
	gid_t g[3] = {5, 7, 100};
	if (setgroups(3, g) != 0) {
		perror("setgroups");
		return 1;
	}
	show();
	if (setgroups(0, NULL) != 0) {
		perror("setgroups none");
		return 1;
	}
	show();
	return 0;
}
