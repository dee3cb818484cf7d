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

// cpSourceLstat matches cp -r's lstat of each source name and where it
// was answered.
var cpSourceLstat = regexp.MustCompile(`newfstatat\(AT_FDCWD, "src/[^"]+", 0x[0-9a-f]+, 0x100\) = 0 .*where=(\w+)`)

// cpSourceFstat matches cp's fstat of each source it opened (fd 3) and
// where it was answered.
var cpSourceFstat = regexp.MustCompile(`newfstatat\(0x3, "", 0x[0-9a-f]+, 0x1000\) = 0 .*where=(\w+)`)

// makeCopyTree makes src under dir: 12 directories of 30 files of
// different sizes, and returns the number of files.
func makeCopyTree(t *testing.T, dir string) int {
	t.Helper()
	files := 0
	for d := 0; d < 12; d++ {
		sub := filepath.Join(dir, "src", fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 30; f++ {
			data := strings.Repeat(fmt.Sprintf("%d/%d\n", d, f), 1+f*7)
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%02d", f)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			files++
		}
	}
	return files
}

// TestCopyTreeOnClient runs GNU cp -r of 360 files into do's overlay
// (the default) natively and under do, and compares the copies. cp
// lstats each source name after listing its directory, opens it and
// fstats it (answered from leases ahead, asked by the first fstat of a
// directory's files), asks FICLONE of the copy (filekind.go) and copies
// with copy_file_range (posted with the leased bytes). The listing's
// answers hold while the copies before are written behind, which change
// only files made after the answers came (pipelineState.born), and while
// the overlay's new files are written, whose inode numbers no longer
// meet its directories' (oci.mountOverlay's xino: before, each new
// upper file of the number of a directory above the source took back
// every answer under it).
func TestCopyTreeOnClient(t *testing.T) {
	tu.RequireRoot(t)
	script := `/usr/bin/cp -r src dst && find dst -type f -exec stat -c '%s %a %n' {} + | sort | md5sum && find dst -type d | sort | md5sum && cat dst/*/* | md5sum &&
		stat -c %d . src src/d00/f00 dst dst/d00/f00 | uniq | wc -l`
	files, dir, log := treeRun(t, makeCopyTree, script, "--force-overlay")
	checkWhere(t, "source lstats", whereCounts(cpSourceLstat, log), files, files/20)
	// The first fstat of each directory's files asks for the leases of
	// the small files listed after it (sentry/client/dataahead.go),
	// which answer the others' fstat and post their copy_file_range.
	checkWhere(t, "source fstats", whereCounts(cpSourceFstat, log), files, files/5)
	if _, err := os.Stat(filepath.Join(dir, "dst")); !os.IsNotExist(err) {
		t.Errorf("dst on the host after a copy into do's overlay: %v", err)
	}
}

// cpFrames matches the client's counts of the socket frames it sent and
// received, and of the creating opens and mkdirs it posted.
var cpFrames = regexp.MustCompile(`socket_sent=(\d+) posted_late=\d+ socket_received=(\d+) .*posted_creates=(\d+) posted_unlinks=\d+ posted_mkdirs=(\d+)`)

// makeDirsCopyTree makes src under dir: 100 directories of one file
// each, and returns the number of entries (directories and files) a copy
// makes.
func makeDirsCopyTree(t *testing.T, dir string) int {
	t.Helper()
	for d := 0; d < 100; d++ {
		sub := filepath.Join(dir, "src", fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "f"), []byte(fmt.Sprintf("%d\n", d)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return 200
}

// TestCopyCreationRidesNextCall runs GNU cp -r under do and counts the
// socket frames it sends per entry it makes. cp creates each copy (a
// posted open) and fstats it right after (a waited call, on a call
// channel); it makes each directory (a posted mkdir) and lstats it
// right after: the creation goes in the next call's channel call, and
// its reply comes in that call's reply (postcreate.go, sendWithNext).
// Sent at once, each cost a frame of its own each way (files: 1.13 sent
// a file; directories of one file: 0.72 an entry). The post delay is
// long here so that a slow machine's queue, due before the fstat, does
// not send the calls before the creation on the socket.
func TestCopyCreationRidesNextCall(t *testing.T) {
	tu.RequireRoot(t)
	tests := []struct {
		name     string
		makeTree func(*testing.T, string) int
		script   string
	}{
		{"files", makeCopyTree, `/usr/bin/cp -r src dst && cat dst/*/* | md5sum`},
		{"directories", makeDirsCopyTree, `/usr/bin/cp -r src dst && find dst | sort | md5sum && cat dst/*/f | md5sum`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nat := t.TempDir()
			tc.makeTree(t, nat)
			want := tu.Run(t, time.Minute, nat, "", tu.Busybox, "sh", "-c", tc.script)
			dir := t.TempDir()
			entries := tc.makeTree(t, dir)
			_, log := sandboxLogged(t, dir, []string{"--post-delay", "100ms"}, &want, tu.Busybox, "sh", "-c", tc.script)
			n := logInts(t, log, cpFrames)
			sent, received := float64(n[0])/float64(entries), float64(n[1])/float64(entries)
			t.Logf("%d entries, %d creations and %d mkdirs posted: %.2f socket frames sent an entry, %.2f received", entries, n[2], n[3], sent, received)
			if n[2]+n[3] < entries*9/10 {
				t.Fatalf("%d creations and %d mkdirs posted for %d entries: the test no longer counts what it says", n[2], n[3], entries)
			}
			if sent > 0.45 {
				t.Errorf("%.2f socket frames sent an entry, want at most 0.45", sent)
			}
		})
	}
}
