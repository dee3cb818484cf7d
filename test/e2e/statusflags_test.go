package e2e

import "testing"

// TestStatusFlags runs testdata/statusflags natively and under do:
// fcntl(F_GETFL) and /proc/self/fdinfo's flags of each kind of
// description. O_LARGEFILE is set only on those open, openat, openat2 and
// creat made (not with O_PATH) and memfd_create's, as Linux on 64-bit;
// before, every description but an O_PATH one showed it in F_GETFL, and
// none in fdinfo.
func TestStatusFlags(t *testing.T) {
	stracedTestdata(t, "statusflags", "statusflags")
}
