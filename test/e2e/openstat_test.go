package e2e

import (
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// fdStat matches a successful fstat of an fd (fstat, or newfstatat with
// an empty path) in the client's strace and where it was answered.
var fdStat = regexp.MustCompile(`(?:\bfstat\(0x[0-9a-f]+|newfstatat\(0x[0-9a-f]+, ""), 0x[0-9a-f]+[^)]*\) = 0 .*where=(\w+)`)

// openStatOpen matches a successful read-only open (flags ending in 0:
// O_RDONLY, no O_CREAT) of testdata/openstat's file or directory and
// where it was answered.
var openStatOpen = regexp.MustCompile(`openat\(AT_FDCWD, "d/(?:sub|f)", 0x[0-9a-f]*0, 0x0\) = \d+ .*where=(\w+)`)

// TestFstatOfOpenedPath runs testdata/openstat/openstat.c natively and
// under do: 103 rounds of an open and fstat of a directory without
// O_DIRECTORY (glibc's locale directories), of a file (gcc's headers),
// and of a directory after its lstat (find), with a chmod, a write and a
// mkdir changing what they find in between. The fstats are answered by
// the client from the stat answer of the open's path (the open's reply's
// Reply.opened_stat, or the lstat's answer; sentry/client/openstat.go),
// and the opens are posted from the first one's kept answer (the first
// open of a path wants a path lease), yet each fstat after a change sees
// it, as on Linux (the output must match the native run's).
func TestFstatOfOpenedPath(t *testing.T) {
	tu.RequireRoot(t)
	log := stracedTestdata(t, "openstat", "openstat")
	stats, opens := whereCounts(fdStat, log), whereCounts(openStatOpen, log)
	t.Logf("fstats: %v; opens: %v", stats, opens)
	const calls = 103 * 3
	if stats["cached"]+stats["forwarded"] != calls || stats["forwarded"] > 10 {
		t.Errorf("fstats answered %v, want %d in all, at most 10 forwarded", stats, calls)
	}
	// The first of each of the three opens, and those after a change
	// (one file open after the chmod and one after the write, two
	// directory opens after the mkdir), are waited for.
	if opens["posted"]+opens["forwarded"] != calls || opens["forwarded"] > 20 {
		t.Errorf("opens answered %v, want %d in all, at most 20 forwarded", opens, calls)
	}
}
