package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestXattrUser runs testdata/xattr/xattr.c natively and under do: the
// user. extended attributes of files and directories the gofer serves
// are set, read, listed and removed as Linux does (EEXIST, ENODATA,
// ERANGE, E2BIG, EPERM on a symlink or a FIFO), another user meets
// Linux's permission rules (the server's checks: the gofer is root on
// the host), and the attribute in which the gofer keeps a set-uid bit is
// not seen. Every call was ENOTSUP (LTP's xattr tests: TCONF).
func TestXattrUser(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "xattr", "xattr")
}
