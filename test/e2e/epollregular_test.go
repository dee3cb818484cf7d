package e2e

import (
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestEpollRegular compares testdata/epollregular.c (epoll_ctl of a
// regular file, of a pipe, with an unreadable event, closed fds, O_PATH
// fds and a bad op, of a directory and of /dev/null) with native, and
// counts the calls the client answers itself: those whose target cannot
// be polled (a regular file, a directory, /dev/null) and whose fds are
// open (EPERM, Linux's first answer once the event is read), nine of the
// seventeen; the others go to the server.
func TestEpollRegular(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "epollregular.c"))
	want := tu.Run(t, timeout, dir, "", prog)
	_, log := sandboxLogged(t, dir, []string{"--strace"}, &want, prog)
	cached := logCount(log, `epoll_ctl\([^)]*\) = -1 EPERM[^\n]*where=cached`)
	all := logCount(log, `client: epoll_ctl\(`)
	if cached != 9 || all != 17 {
		t.Errorf("%d of %d epoll_ctl calls answered EPERM on the client, want 9 of 17", cached, all)
	}
}
