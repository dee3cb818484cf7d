package e2e

import "testing"

// TestOpenat2 runs testdata/openat2/openat2.c natively and under do:
// openat2's open_how checks (sizes, unknown flags, modes, O_PATH's
// flags) and its RESOLVE_* walks (NO_XDEV into and out of /proc,
// NO_MAGICLINKS, NO_SYMLINKS inner and last, BENEATH and IN_ROOT with
// "..", absolute paths and links, magic links, CACHED with O_CREAT), in
// Linux's answers; it was ENOSYS (LTP openat201-203).
func TestOpenat2(t *testing.T) {
	stracedTestdata(t, "openat2", "openat2")
}
