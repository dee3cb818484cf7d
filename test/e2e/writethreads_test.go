package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	// 52 writes beside the read (the first of them may find the
	// creation's reply missing: waited), and most of the appenders' 400.
	beside := regexp.MustCompile(`client: (write|pwrite64)\(0x[0-9a-f]+, "(0123456789|ABCDE|end\\n)"[^\n]*where=posted`).FindAll(log, -1)
	appended := regexp.MustCompile(`client: write\(0x[0-9a-f]+, "T[12] [^\n]*where=posted`).FindAll(log, -1)
	polled := regexp.MustCompile(`client: write\(0x[0-9a-f]+, "polled\\n"[^\n]*where=posted`).FindAll(log, -1)
	if len(beside) < 48 || len(appended) < 200 || len(polled) != 0 {
		t.Errorf("%d of 52 writes beside a read, %d of 20 beside a poll and %d of the appenders' 400 posted, want at least 48, none and at least 200",
			len(beside), len(polled), len(appended))
	}
}
