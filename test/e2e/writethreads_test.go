package e2e

import (
	"path/filepath"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestWriteBehindThreads compares testdata/writethreads.c (a process
// with several threads writes a file: beside another thread's read of a
// pipe, beside its poll(2), then two threads appending at once) with
// native, and counts the writes posted: a process with several threads
// writes behind while its other threads' calls in flight are neutral and
// name other fds (not beside a poll), each write marked to run after the
// posted calls before it, so the two appenders' lines stay each in its
// order.
func TestWriteBehindThreads(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "writethreads.c"))
	data := filepath.Join(dir, "data")
	want := tu.Run(t, timeout, dir, "", prog, data)
	_, log := sandboxLogged(t, dir, []string{"--strace", "--threaded-posting"}, &want, prog, data)
	// 52 writes beside the read (the first of them may find the
	// creation's reply missing: waited), and most of the appenders' 400.
	beside := logCount(log, `client: (write|pwrite64)\(0x[0-9a-f]+, "(0123456789|ABCDE|end\\n)"[^\n]*where=posted`)
	appended := logCount(log, `client: write\(0x[0-9a-f]+, "T[12] [^\n]*where=posted`)
	polled := logCount(log, `client: write\(0x[0-9a-f]+, "polled\\n"[^\n]*where=posted`)
	if beside < 48 || appended < 200 || polled != 0 {
		t.Errorf("%d of 52 writes beside a read, %d of 20 beside a poll and %d of the appenders' 400 posted, want at least 48, none and at least 200",
			beside, polled, appended)
	}
}
