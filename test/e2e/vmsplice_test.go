package e2e

import "testing"

// TestVmsplice runs testdata/vmsplice/vmsplice.c natively and under do:
// vmsplice moves bytes into a pipe's write end (what fits, EAGAIN on a
// full pipe with SPLICE_F_NONBLOCK, EPIPE without a reader) and out of a
// read end (0 without a writer), with Linux's errors in Linux's order; it
// was ENOSYS (LTP vmsplice01-04).
func TestVmsplice(t *testing.T) {
	stracedTestdata(t, "vmsplice", "vmsplice")
}
