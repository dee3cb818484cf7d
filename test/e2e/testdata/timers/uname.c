// uname: a release new enough for modern test suites (>= 4.17).
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

int main(void) {
	struct utsname u;
	if (uname(&u) != 0) {
		perror("uname");
		return 1;
	}
	int major = 0, minor = 0;
	sscanf(u.release, "%d.%d", &major, &minor);
	printf("sysname %s machine %s\n", u.sysname, u.machine);
	printf("release at least 4.17: %s\n", major > 4 || (major == 4 && minor >= 17) ? "yes" : "no");
	return 0;
}
