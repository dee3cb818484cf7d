package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestReadCacheThreads compares testdata/readthreads.c (a process with
// a second thread, blocked reading a pipe, reads a 100 KB file to the
// end three times, seeks, preads) with native, and counts the reads the
// client answers from its read cache: a process with several threads
// gets leases too, and its reads are answered while no other thread's
// call in flight may remove an fd or move the description's offset.
func TestReadCacheThreads(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "readthreads.c"))
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, []byte(strings.Repeat("runsc-decoupled reads ahead\n", 4000)), 0o644); err != nil {
		t.Fatal(err)
	}
	want := tu.Run(t, timeout, dir, "", prog, data)
	_, log := sandboxLogged(t, dir, []string{"--strace", "--threaded-posting"}, &want, prog, data)
	cached := logCount(log, `client: (read|pread64)\([^\n]*where=cached`)
	all := logCount(log, `client: (read|pread64)\(0x[0-9a-f]+, `)
	// 3 rounds of 29 reads (the last at the end), 1 at 100, 1 pread, 1
	// at the end: 96 reads of the file, and the second thread's read of
	// the pipe.
	if all != 97 || cached < 90 {
		t.Errorf("%d of %d reads answered from the read cache, want at least 90 of 97", cached, all)
	}
}
