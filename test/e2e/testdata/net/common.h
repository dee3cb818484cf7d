// Helpers shared by the test programs of testdata/net.
#include <errno.h>
#include <stdio.h>

// TRY prints what an expression returned (its sign) and, if it failed, errno.
#define TRY(what, expr)                                                      \
	do {                                                                 \
		errno = 0;                                                   \
		long r_ = (long)(expr);                                      \
		printf("%s: %ld errno %d\n", what, r_ < 0 ? r_ : (r_ > 0 ? 1 : 0), r_ < 0 ? errno : 0); \
	} while (0)

// TRYN is TRY printing the full return value.
#define TRYN(what, expr)                                                     \
	do {                                                                 \
		errno = 0;                                                   \
		long r_ = (long)(expr);                                      \
		printf("%s: %ld errno %d\n", what, r_, r_ < 0 ? errno : 0); \
	} while (0)
