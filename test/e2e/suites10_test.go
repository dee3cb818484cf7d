package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSuites10Fixes compares programs of testdata/suites10 with a native
// run; each guards errors the public suites (docs/COMPATIBILITY.md,
// "Measured against public suites") check only in passing.
func TestSuites10Fixes(t *testing.T) {
	tu.RequireRoot(t)
	for _, tc := range []struct {
		name string
		// readHits, pathHits: the read or path cache must have answered
		// some calls, else the program tested nothing of it.
		readHits, pathHits bool
	}{
		// create_order: mkdir and open(O_CREAT) of a name in a directory
		// the caller may not search are EACCES, existing or not (they
		// were EEXIST and a successful open); O_CREAT of a directory is
		// EISDIR, of "." with O_EXCL EEXIST; before and after the names
		// were stat'ed and listed (path cache, dentries, creation first).
		{name: "create_order"},
		// leased_copy: sendfile and copy_file_range from a leased file
		// into a written-behind one (counts, offsets, overlapping copies
		// within one file, O_APPEND, RLIMIT_FSIZE, what others see).
		{name: "leased_copy", readHits: true},
		// listing_stat: fstatat(dirfd, name) and lstat of names just
		// listed, "." and ".." (a tmpfs mount's root too), after another
		// process's rename, write, chmod, link and unlink there.
		{name: "listing_stat", pathHits: true},
		// open_emfile: open(O_CREAT) with no fd free is EMFILE and
		// creates nothing (it created the file).
		{name: "open_emfile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := tu.StaticProgram(t, t.TempDir(), tc.name, testdataSource(t, "suites10", tc.name))
			want := tu.Run(t, timeout, worldWritableDir(t), "", prog)
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			switch {
			case tc.readHits:
				if _, hits, _ := sandboxCounts(t, worldWritableDir(t), nil, &want, prog); hits == 0 {
					t.Error("no call was answered from the read cache: the test tested nothing of it")
				}
			case tc.pathHits:
				if _, hits := pathCounts(t, worldWritableDir(t), nil, want, prog); hits == 0 {
					t.Error("no call was answered from the path cache: the test tested nothing of it")
				}
			default:
				compare(t, want, tu.Sandbox(t, timeout, worldWritableDir(t), "", nil, prog))
			}
		})
	}
}
