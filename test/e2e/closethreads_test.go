package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestCloseThreads compares testdata/closethreads.c (a process with a
// second thread opens, dups and closes files, and closes them again:
// EBADF) with native, and counts the closes the client posts: beside
// the other thread's read of a pipe (a neutral call naming another fd)
// the 41 closes of open fds are posted, marked to run after the posted
// calls before them; beside its poll(2), which names fds in memory, none
// is (nor are the closes of closed fds: the server answers EBADF). The
// opens go alike (the first waited: its answer makes the others').
func TestCloseThreads(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "closethreads.c"))
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, []byte("closed by a thread\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := tu.Run(t, timeout, dir, "", prog, data)
	compare(t, want, tu.Sandbox(t, timeout, dir, "", nil, prog, data))

	logFile := filepath.Join(dir, "strace.log")
	cmd := exec.Command(tu.Binary(t), "do", "--strace", "--debug-log", logFile, "--", prog, data)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("do --strace: %v\n%s", err, out)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	posted := regexp.MustCompile(`client: close\([^\n]*where=posted`).FindAll(log, -1)
	if len(posted) != 41 {
		t.Errorf("%d closes posted, want the 41 of open fds beside the read", len(posted))
	}
	// The opens beside the read but the first (whose answer the path
	// cache keeps) are posted too; none beside the poll.
	opens := regexp.MustCompile(`client: openat\([^\n]*where=posted`).FindAll(log, -1)
	if len(opens) != 20 {
		t.Errorf("%d opens posted, want the 20 beside the read after the first", len(opens))
	}
}
