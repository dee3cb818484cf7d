package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// rmAcrossKill makes a directory of 1,500 files and removes it with
// busybox rm -r, which unlinks each entry its listing returned before it
// lists on (glibc's 32 KiB getdents64 takes 1,363 of these names at
// once), with one kill of the server or the gofer once rm has removed
// 300 of them: the listing, continued by the restarted daemon from the
// directory offset before the kill, neither skips the entries left (rm
// then fails with ENOTEMPTY, 137 files left) nor repeats removed ones.
func rmAcrossKill(t *testing.T, gofer bool) {
	tu.RequireRoot(t)
	const files, removed = 1500, 300
	script := fmt.Sprintf(`mkdir o && cd o && i=0; while [ $i -lt %d ]; do : > $i; i=$((i+1)); done; cd .. && : > made && rm -r o; echo rm=$?; ls`, files)
	left := func(dir string) int {
		ents, _ := os.ReadDir(filepath.Join(dir, "o"))
		return len(ents)
	}
	log := serverKillRun(t, serverKill{
		prog:  tu.Busybox,
		args:  []string{"sh", "-c", script},
		kills: 1,
		gofer: gofer,
		ready: func(dir string, _ int) bool {
			return tu.Exists(filepath.Join(dir, "made")) && left(dir) <= files-removed
		},
		progress: func(dir string) string { return fmt.Sprintf("%d files left", left(dir)) },
		poll:     time.Millisecond,
	})
	for _, m := range recoveryLine.FindAll(log, -1) {
		t.Logf("%s", m)
	}
}

// recoveryLine matches the client's log line of a recovery's counts.
var recoveryLine = regexp.MustCompile(`records=\S+ .*pause_ms=\d+`)

func TestRmListingAcrossServerKill(t *testing.T) { rmAcrossKill(t, false) }
func TestRmListingAcrossGoferKill(t *testing.T)  { rmAcrossKill(t, true) }
