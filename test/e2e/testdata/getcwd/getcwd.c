// getcwd: 50 getcwds in a directory two levels down, then after the
// rename of the directory above it, then after a chdir back up; each
// phase prints the path below the start directory once.
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char start[4096];

static int phase(const char *name) {
	char buf[4096], first[4096] = "";
	for (int i = 0; i < 50; i++) {
		if (!getcwd(buf, sizeof(buf))) {
			perror("getcwd");
			return 1;
		}
		if (i == 0) {
			strcpy(first, buf);
		} else if (strcmp(first, buf) != 0) {
			printf("%s: getcwd changed: %s, then %s\n", name, first, buf);
		}
	}
	printf("%s: %s\n", name, strncmp(first, start, strlen(start)) == 0 ? first + strlen(start) : first);
	return 0;
}

int main(void) {
	if (!getcwd(start, sizeof(start)) || mkdir("a", 0755) || mkdir("a/b", 0755) || chdir("a/b")) {
		perror("setup");
		return 1;
	}
	if (phase("in a/b") || rename("../../a", "../../c") || phase("after the rename of a") || chdir("..") || phase("in c")) {
		perror("phase");
		return 1;
	}
	return 0;
}
