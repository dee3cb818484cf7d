package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// mappedFDs matches the client's count of mapped files read through a
// host fd the server lent, of those reads and of their bytes
// (sentry/client/mappedfd.go).
var mappedFDs = regexp.MustCompile(`mapped_fds=(\d+) mapped_fd_reads=(\d+) mapped_fd_read_bytes=(\d+)`)

// TestMappedFDs compares testdata/mappedfd/maps.c (a 9 MiB file mapped
// private and read whole, again after a write(2) into it, a store
// through a shared mapping and an append; a file made before the run
// mapped, changed and mapped again) with a native run, with the mapped
// files' pages read through host fds the server lends (the default) and
// with PageReads alone, on the host's files and on do's overlay (an
// overlayfs the gofer makes: its files are host files too, and a change
// to one made before the run copies it up while a lent fd of it is
// held).
func TestMappedFDs(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "mappedfd", "maps.c"))
	pre := make([]byte, 1<<20)
	for i := range pre {
		pre[i] = byte(i * 13)
	}
	withPre := func() string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "pre"), pre, 0644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	want := tu.Run(t, timeout, withPre(), "", bin)
	if want.ExitCode != 0 {
		t.Fatalf("native run failed (exit %d):\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
	}
	for _, tc := range []struct {
		mapped, overlay bool
		// lent is the fewest files read through a lent fd: the
		// program, and the 9 MiB file on the host.
		lent int
	}{
		{mapped: false, overlay: false, lent: 0},
		{mapped: true, overlay: false, lent: 2},
		{mapped: true, overlay: true, lent: 2},
	} {
		t.Run(fmt.Sprintf("mapped-fds=%v,overlay=%v", tc.mapped, tc.overlay), func(t *testing.T) {
			flags := []string{fmt.Sprintf("--mapped-fds=%v", tc.mapped), fmt.Sprintf("--force-overlay=%v", tc.overlay)}
			_, log := sandboxLogged(t, withPre(), flags, &want, bin)
			n := logInts(t, log, mappedFDs)
			reads := logInts(t, log, pageReads)
			t.Logf("files read through a lent fd: %d (%d reads, %d bytes); PageReads %d (%d bytes)", n[0], n[1], n[2], reads[0], reads[1])
			switch {
			case !tc.mapped && (n[0] != 0 || n[1] != 0):
				t.Errorf("--mapped-fds=false: %d fds lent, %d reads of them", n[0], n[1])
			case tc.mapped && (n[0] < tc.lent || n[1] < tc.lent):
				t.Errorf("%d fds lent, %d reads of them; want at least %d of each", n[0], n[1], tc.lent)
			case tc.mapped && !tc.overlay && n[2] < 9<<20:
				t.Errorf("%d bytes read through lent fds; want the 9 MiB file's at least", n[2])
			}
		})
	}
}
