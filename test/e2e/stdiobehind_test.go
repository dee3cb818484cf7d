package e2e

import (
	"regexp"
	"testing"
)

// stdioWrite matches a write or writev of fd 1 or 2 in a client's
// strace, with where it was answered.
var stdioWrite = regexp.MustCompile(`do\.client: (?:write|writev)\(0x[12], .* where=(\w+)`)

// TestStdioWritesBehind runs testdata/stdio/stdio.c natively and under
// do: its writes to stdout and stderr (no terminal: the test's pipes),
// 300 lines with write, 30 to stderr between them, 100 with writev, 50
// from a forked child the parent waits for, print the same bytes in the
// same order, and the calls Linux fails (EFAULT, ESPIPE, EBADF) fail
// alike. The writes are posted: the few that wait are the failing ones
// and the empty write (at most 8 of the 490).
func TestStdioWritesBehind(t *testing.T) {
	log := stracedTestdata(t, "stdio", "stdio")
	checkWhere(t, "writes to stdout and stderr", whereCounts(stdioWrite, log), 488, 8)
}
