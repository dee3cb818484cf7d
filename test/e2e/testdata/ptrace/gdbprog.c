// A program to debug: a recursion with a local to print, a loop to step
// through and a crash at the end.
#include <stdio.h>

int depth(int n) {
	int here = n * 10;
	if (n == 0) {
		volatile int *p = 0;
		return *p + here;
	}
	return depth(n - 1) + here;
}

int sum(int k) {
	int s = 0;
	for (int i = 0; i < k; i++)
		s += i;
	return s;
}

int main(void) {
	printf("sum %d\n", sum(4));
	fflush(stdout);
	return depth(3);
}
