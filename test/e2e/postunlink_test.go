package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// listedRemovals is a shell script that lists a directory and then
// removes, opens, stats and tests some of its entries, printing what it
// sees: each call answered on the client from the listing (rm's access
// and unlink, cat's open) must show what the server would, the removals'
// effects included (a stat, test or open after an unlink finds no name;
// a directory is not unlinked).
const listedRemovals = `mkdir w && cd w && for i in 1 2 3 4 5 6; do echo $i > f$i; done; mkdir sub
ls >/dev/null
rm f1 f2 sub 2>&1
[ -e f1 ] && echo f1 left
cat f2 2>&1
cat f* | wc -l
ls
cd .. && rm -r w; ls`

// TestPostedUnlinks runs listedRemovals natively and under do, with the
// client's answers from listings (posted unlinks, accesses and opens
// answered from the listed lstat answers) and without them: the output
// is the same, and with them rm's unlinks of listed files were posted.
func TestPostedUnlinks(t *testing.T) {
	tu.RequireRoot(t)
	want := tu.Run(t, time.Minute, t.TempDir(), "", tu.Busybox, "sh", "-c", listedRemovals)
	if want.ExitCode != 0 {
		t.Fatalf("native run: exit %d\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	tests := []struct {
		name  string
		flags []string
		// minUnlinks is the fewest unlinks posted (0: none at all).
		minUnlinks int
	}{
		{name: "posted", minUnlinks: 6},
		{name: "waited", flags: []string{"--posted-creates=false"}},
		{name: "without the caches", flags: []string{"--read-cache=false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, counts := stracedRun(t, t.TempDir(), tc.flags, "", tu.Busybox, "sh", "-c", listedRemovals)
			compare(t, want, got)
			posted := counts["unlink posted"] + counts["unlinkat posted"]
			t.Logf("unlinks: %d posted, %d forwarded; access: %d answered on the client", posted,
				counts["unlink forwarded"]+counts["unlinkat forwarded"], counts["access cached"]+counts["faccessat cached"])
			if posted < tc.minUnlinks || (tc.minUnlinks == 0 && posted != 0) {
				t.Errorf("%d unlinks posted, want at least %d (none without)", posted, tc.minUnlinks)
			}
		})
	}
}

// postedUnlinks matches the client's count of posted unlinks in its
// end-of-run line.
var postedUnlinks = regexp.MustCompile(`posted_unlinks=(\d+)`)

// TestPostedUnlinkServerKill kills the server three times while a shell
// makes directories of files, cats them into a pipe and removes them
// with rm -r (whose unlinks the client posts): the output and what is
// left are the native run's, every posted unlink in flight at a kill
// being re-sent by the recovery.
func TestPostedUnlinkServerKill(t *testing.T) {
	tu.RequireRoot(t)
	const rounds, files, kills = 40, 60, 3
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do mkdir d$i && cd d$i && j=0; while [ $j -lt %d ]; do echo $j > f$j; j=$((j+1)); done; cat f* | wc -l; cd .. && rm -r d$i && [ ! -e d$i ] && echo $i >>rounds; i=$((i+1)); done; ls`, rounds, files)
	done := func(dir string) int {
		b, _ := os.ReadFile(filepath.Join(dir, "rounds"))
		return strings.Count(string(b), "\n")
	}
	log := serverKillRun(t, serverKill{
		prog:     tu.Busybox,
		args:     []string{"sh", "-c", script},
		kills:    kills,
		ready:    func(dir string, k int) bool { return done(dir) >= k*rounds/(kills+1) },
		progress: func(dir string) string { return fmt.Sprintf("%d rounds", done(dir)) },
	})
	// Whole rounds wait when the path cache asks no lease for a
	// while (pathCache.wasted: the rounds' creations revoke what the
	// glob's listing brought before cat uses it on a loaded machine):
	// 480 of 2,400 posted here once.
	posted := logInts(t, log, postedUnlinks)[0]
	t.Logf("%d unlinks posted of %d", posted, rounds*files)
	if posted < files {
		t.Errorf("%d unlinks posted of %d: the test tested little", posted, rounds*files)
	}
}
