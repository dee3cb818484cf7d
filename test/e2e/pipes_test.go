package e2e

import (
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPipeSizeSplice compares testdata/pipes/pipesize.c (splice from a
// pipe and from a file, tee and write into pipes whose F_SETPIPE_SZ
// size is smaller and larger than the default 64 KiB) with a native run:
// each fills the pipe up to its own size.
func TestPipeSizeSplice(t *testing.T) {
	tu.RequireRoot(t)
	comparePrograms(t, "pipes", []string{"pipesize"})
}

// pipeRead matches a read of fd 3 (testdata/pipes/pipeahead.c's pipes'
// read ends) in a client's strace, with where it was answered.
var pipeRead = regexp.MustCompile(`do\.client: read\(0x3, .* where=(\w+)`)

// TestPipeReadsAhead compares testdata/pipes/pipeahead.c with a native
// run: a read of more bytes than the reader's copy ahead holds returns
// what the pipe holds, bytes written after the copy was made (by the
// reader's process, by a child it waited for: LTP's pipe15) and those past
// a 64 KiB copy of a bigger pipe included (sentry/client/pipebehind.go).
// Reads the copy covers are still answered from it.
func TestPipeReadsAhead(t *testing.T) {
	tu.RequireRoot(t)
	log := stracedTestdata(t, "pipes", "pipeahead")
	where := whereCounts(pipeRead, log)
	t.Logf("reads of the pipes: %v", where)
	if where["posted"] < 2 {
		t.Errorf("reads of the pipes %v, want at least 2 answered from a copy ahead (posted)", where)
	}
}
