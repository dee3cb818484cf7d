package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestEpollRegular compares testdata/epollregular.c (epoll_ctl of a
// regular file, of a pipe, with an unreadable event, closed fds, O_PATH
// fds and a bad op) with native, and counts the calls the client answers itself:
// those whose target is a regular file and whose fds are open (EPERM,
// Linux's first answer once the event is read), six of the fourteen; the
// others go to the server.
func TestEpollRegular(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "epollregular.c"))
	want := tu.Run(t, timeout, dir, "", prog)
	compare(t, want, tu.Sandbox(t, timeout, dir, "", nil, prog))

	logFile := filepath.Join(dir, "strace.log")
	cmd := exec.Command(tu.Binary(t), "do", "--strace", "--debug-log", logFile, "--", prog)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("do --strace: %v\n%s", err, out)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cached := regexp.MustCompile(`epoll_ctl\([^)]*\) = -1 EPERM[^\n]*where=cached`).FindAll(log, -1)
	all := regexp.MustCompile(`client: epoll_ctl\(`).FindAll(log, -1)
	if len(cached) != 6 || len(all) != 14 {
		t.Errorf("%d of %d epoll_ctl calls answered EPERM on the client, want 6 of 14", len(cached), len(all))
	}
}
