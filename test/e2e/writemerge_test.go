package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// mergedCounts matches the client's end-of-run counts of posted calls
// and of writes behind merged into the queued write before them.
var mergedCounts = regexp.MustCompile(`forwarded calls: waited=\d+ posted=(\d+) .*merged_writes=(\d+)`)

// TestMergedWriteCalls: a loop of 1,000 writes of 4 KiB to a file
// (testdata/postalloc/wbmerge.c, the benchmark's write4k loop) costs the
// server far fewer posted calls than writes: a write behind that
// continues the queued, unsent one before it is appended to it
// (sentry/client/writemerge.go). The file holds every write's bytes, in
// order. Each write was posted alone before (1,000 posted calls and
// more).
func TestMergedWriteCalls(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "wbmerge", testdataSource(t, "postalloc", "wbmerge"))
	const writes = 1000
	dir := t.TempDir()
	_, log := sandboxLogged(t, dir, nil, nil, prog, strconv.Itoa(writes))
	v := logInts(t, log, mergedCounts)
	posted, merged := v[0], v[1]
	t.Logf("%d writes of 4 KiB: %d calls posted, %d writes merged", writes, posted, merged)
	if posted > writes/4 {
		t.Errorf("%d calls posted for %d writes behind, want at most %d (merged runs of 4 writes and more)", posted, writes, writes/4)
	}
	if merged < writes*3/4 {
		t.Errorf("%d of %d writes behind merged, want at least %d", merged, writes, writes*3/4)
	}
	got, err := os.ReadFile(filepath.Join(dir, "wbmerge.out"))
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := 0; i < writes; i++ {
		want = append(want, bytes.Repeat([]byte{byte(i % 251)}, 4096)...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the file holds %d bytes that are not the %d written, in order", len(got), len(want))
	}
}
