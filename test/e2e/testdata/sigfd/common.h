// Helpers shared by the socket test programs.
#include <errno.h>
#include <stdio.h>

// TRY prints what an expression returned and, if it failed, errno.
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
