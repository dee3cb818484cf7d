package e2e

import (
	"testing"

	"golang.org/x/sys/unix"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestXattrUser runs testdata/xattr/xattr.c natively and under do: the
// user. extended attributes of files and directories the gofer serves
// are set, read, listed and removed as Linux does (EEXIST, ENODATA,
// ERANGE, E2BIG, EPERM on a symlink or a FIFO), another user meets
// Linux's permission rules (the server's checks: the gofer is root on
// the host), and the attribute in which the gofer keeps a set-uid bit is
// not seen. Every call was ENOTSUP (LTP's xattr tests: TCONF). Also
// through the gofer's overlay, whose upper layer is a tmpfs: user.
// attributes there need Linux 6.6.
func TestXattrUser(t *testing.T) {
	tu.RequireRoot(t)
	t.Run("host", func(t *testing.T) { stracedTestdata(t, "xattr", "xattr") })
	t.Run("overlay", func(t *testing.T) {
		if !kernelAtLeast(6, 6) {
			t.Skip("tmpfs has user. extended attributes from Linux 6.6")
		}
		prog := tu.StaticProgram(t, t.TempDir(), "xattr", testdataSource(t, "xattr", "xattr"))
		want := runNatively(t, prog)
		sandboxLogged(t, t.TempDir(), []string{"--force-overlay=true"}, &want, prog)
	})
}

// kernelAtLeast says whether the host's kernel is major.minor or later.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	for i, n := 0, 0; i < len(u.Release); i++ {
		c := u.Release[i]
		if c >= '0' && c <= '9' {
			if n == 0 {
				ma = ma*10 + int(c-'0')
			} else {
				mi = mi*10 + int(c-'0')
			}
			continue
		}
		if c != '.' || n == 1 {
			break
		}
		n++
	}
	return ma > major || ma == major && mi >= minor
}
