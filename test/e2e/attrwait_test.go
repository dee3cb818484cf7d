package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// stracedPathWhere counts, from a client's strace log, the calls on each
// path by where the client answered them ("newfstatat top/ forwarded").
func stracedPathWhere(log string) map[string]int {
	counts := map[string]int{}
	for _, m := range stracedPathCall.FindAllStringSubmatch(log, -1) {
		counts[m[1]+" "+m[2]+" "+m[3]]++
	}
	return counts
}

// TestAttrWaitTarCalls runs busybox tar -xf of 200 files in two
// directories under do and counts the calls tar waited for. Per file,
// tar stats the directory it extracts into ("top/") while the previous
// file's posted chown, chmod and utimensat are still unanswered. Those
// change only the attributes of a regular file tar created, which no
// walk searches and which is not the directory: the stat is answered
// from the path cache. Counted from the strace of 200 files: the call
// tar waits for per file is the unlink of the member's name (1,
// ENOENT), 1.2 in all with start-up (its creation and the sendfile of
// its data are posted: TestPostedCreateTarCalls); before this change
// also the stat of "top/" (0.96; 0.01 now), and, before posted opens,
// the openat of /etc/passwd and of /etc/group (1 each).
func TestAttrWaitTarCalls(t *testing.T) {
	tu.RequireRoot(t)
	const files = 200
	archive := tarOf(t, files)
	dir := t.TempDir()
	_, log, _ := stracedRun(t, dir, nil, "top", tu.Busybox, "tar", "-xf", archive)
	got, err := os.ReadFile(filepath.Join(dir, "top", "d1", fmt.Sprintf("f%03d", files-1)))
	if err != nil || string(got) != strings.Repeat("0123456789abcdef", 32) {
		t.Fatalf("the last file extracted: %q, %v", got, err)
	}
	counts := stracedPathWhere(log)
	per := func(k string) float64 { return float64(counts[k]) / files }
	t.Logf("per file: stat of top/ %.2f forwarded, %.2f cached; %.2f waited calls in all",
		per("newfstatat top/ forwarded"), per("newfstatat top/ cached"), float64(waitedCalls(t, log))/files)
	if f := per("newfstatat top/ forwarded"); f > 0.1 {
		t.Errorf("%.2f stats of top/ per file waited for the server, want at most 0.1", f)
	}
	if c := per("newfstatat top/ cached"); c < 0.9 {
		t.Errorf("%.2f stats of top/ per file answered on the client, want at least 0.9", c)
	}
}

// TestAttrWaitRestat runs testdata/attrwait/restat.c natively and under
// do: it changes the mode, group and times of a file it created and of
// a directory it made, and stats each, and their directory, right
// after. Under do the changes are posted; the stats of the changed file
// and directory must see them (the client waits for the changes'
// replies), while the stats of the directory they are in may be
// answered from the path cache when only the file's change is
// unanswered.
func TestAttrWaitRestat(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "attrwait", "restat.c"))
	native := runNatively(t, prog)
	for round := 0; round < 3; round++ {
		r, log, _ := stracedRun(t, t.TempDir(), nil, "w", prog)
		if r.Stdout != native.Stdout {
			t.Fatalf("round %d: under do:\n%s\nnatively:\n%s", round, r.Stdout, native.Stdout)
		}
		counts := stracedPathWhere(log)
		t.Logf("round %d: stat of w %d cached, %d forwarded; of w/f %d cached, of w/d %d cached",
			round, counts["newfstatat w cached"], counts["newfstatat w forwarded"],
			counts["newfstatat w/f cached"], counts["newfstatat w/d cached"])
		if counts["newfstatat w cached"] == 0 {
			t.Errorf("round %d: no stat of w answered on the client", round)
		}
	}
}
