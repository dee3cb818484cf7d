package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestDonatedFileIO compares a read/write workload (testdata/donate/rw.c:
// reads and writes at offsets and past the end, vectors, O_APPEND,
// fstat after writes, a shared mapping's page reads and write-back, a
// read-only fd, a file unlinked while open) with a native run, with the
// gofer donating host fds to the server (the default: the server preads
// and pwrites them itself) and without.
func TestDonatedFileIO(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "donate", "rw.c"))
	want := tu.Run(t, timeout, t.TempDir(), "", bin)
	if want.ExitCode != 0 {
		t.Fatalf("native run failed (exit %d):\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	for _, donate := range []bool{true, false} {
		t.Run(fmt.Sprintf("donate-fds=%v", donate), func(t *testing.T) {
			logFile := filepath.Join(t.TempDir(), "debug.log")
			got := tu.Sandbox(t, timeout, t.TempDir(), "", []string{fmt.Sprintf("--donate-fds=%v", donate), "--debug-log", logFile}, bin)
			compare(t, want, got)
			// The gofer logs each donation (and each Write it serves).
			log, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			donations, writes := strings.Count(string(log), "gofer: donated:"), strings.Count(string(log), "gofer: write:")
			t.Logf("%d fds donated, %d Writes served by the gofer", donations, writes)
			if donate && (donations == 0 || writes > 16) {
				t.Errorf("with donation: %d fds donated, %d Writes through the gofer (want some, and only the O_APPEND ones)", donations, writes)
			}
			if !donate && donations != 0 {
				t.Errorf("--donate-fds=false: %d fds donated", donations)
			}
		})
	}
}
