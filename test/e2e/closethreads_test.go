package e2e

import (
	"os"
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestCloseThreads compares testdata/closethreads.c (a process with a
// second thread opens, dups and closes files, and closes them again:
// EBADF) with native, and counts the closes the client posts: beside
// the other thread's read of a pipe (a neutral call naming another fd)
// the 41 closes of open fds are posted, marked to run after the posted
// calls before them; beside its poll(2), which names fds in memory, none
// is (nor are the closes of closed fds: the server answers EBADF);
// beside its waitid(P_PIDFD) for a child (Go's os/exec's wait, neutral,
// naming the pidfd) the 21 are (the last may be taken back with its
// open, unsent). The opens go alike (the first waited:
// its answer makes the others').
func TestCloseThreads(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "closethreads.c"))
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, []byte("closed by a thread\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := tu.Run(t, timeout, dir, "", prog, data)
	_, log := sandboxLogged(t, dir, []string{"--strace", "--threaded-posting", "--threaded-opens"}, &want, prog, data)
	// A last open and its close may be taken back together (unsent).
	posted := logCount(log, `client: close\([^\n]*where=(?:posted|unsent)`)
	if posted != 41+21 {
		t.Errorf("%d closes posted or taken back, want the 41 of open fds beside the read and the 21 beside the pidfd wait", posted)
	}
	// The opens beside the read but the first (whose answer the path
	// cache keeps) are posted too, and the 11 beside the pidfd wait;
	// none beside the poll.
	opens := logCount(log, `client: openat\([^\n]*where=posted`)
	if opens != 20+11 {
		t.Errorf("%d opens posted, want the 20 beside the read after the first and the 11 beside the pidfd wait", opens)
	}
}
