package e2e

import (
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestMincore runs testdata/mincore natively and under do: mincore
// reports anonymous pages resident once written, read, read(2) into,
// populated or locked, and not after MADV_DONTNEED; shared anonymous
// pages a child touched; a file's pages from the page cache (the
// client's) before and after a fault of a private or shared mapping.
func TestMincore(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "mincore", []string{"mincore"})
}

// TestMincoreEvicted: a file whose pages were evicted from Linux's page
// cache (fsync, then POSIX_FADV_DONTNEED) is reported not resident
// natively until a fault reads it back. The sandbox's page cache for a
// mapping is the client's (mincore.go), which neither sees the server
// host's eviction nor drops its own copy on POSIX_FADV_DONTNEED, and a
// file this client made is mapped with its bytes: so it reports the
// pages resident, which they are, in the client's cache. Not compared
// with Linux; this checks the sandbox's answer.
func TestMincoreEvicted(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgram(t, dir, "mincore", testdataSource(t, "mincore", "mincore"))
	got := tu.Sandbox(t, timeout, dir, "", nil, prog, "evicted")
	if got.ExitCode != 0 {
		t.Fatalf("exit %d\n%s%s", got.ExitCode, got.Stdout, got.Stderr)
	}
	const want = "shared file, evicted: 1 1 1 1 1 1 1 1\n"
	if !strings.Contains(got.Stdout, want) {
		t.Errorf("want %q in:\n%s", want, got.Stdout)
	}
}
