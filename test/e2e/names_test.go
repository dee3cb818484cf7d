package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestNonUTF8Names runs testdata/names/names.c natively and under do
// (same output): file names and a symlink target holding bytes
// 0x80-0xff, which are not UTF-8, are created, stat'ed, opened, read,
// renamed, linked, listed (getdents64), read back (readlink), made and
// removed (mkdir, rmdir, unlink), and a directory so named is chdir'ed
// into and named by getcwd; a process exec'ed there with an argument and
// an environment variable that are not UTF-8 sees them (argv, environ,
// /proc/self/cmdline) and its cwd. The gofer and sentry protocols carry names as
// bytes; as strings (proto3: UTF-8 only) the first create was EIO, and
// names the host held were left out of listings. Also through the
// gofer's overlay.
func TestNonUTF8Names(t *testing.T) {
	tu.RequireRoot(t)
	t.Run("host", func(t *testing.T) { stracedTestdata(t, "names", "names") })
	t.Run("overlay", func(t *testing.T) {
		prog := tu.StaticProgram(t, t.TempDir(), "names", testdataSource(t, "names", "names"))
		want := runNatively(t, prog)
		sandboxLogged(t, t.TempDir(), []string{"--force-overlay=true"}, &want, prog)
	})
}
