package e2e

import (
	"os"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestCachesSeeOthersChanges runs each program of testdata/suites9
// natively and in the sandbox, each side in a directory of its own, and
// the two must agree. They guard what the public suites (LTP syscalls,
// pjdfstest; docs/COMPATIBILITY.md, "Measured against public suites")
// check only here and there: that the client's path and read caches, and
// the server's merged runs of attribute calls, show every change another
// process, thread, description or name of the file made, as Linux does.
// The path and read caches must have answered some of the calls, else
// the program tested nothing of them.
func TestCachesSeeOthersChanges(t *testing.T) {
	tu.RequireRoot(t)
	for _, tc := range []struct {
		name string
		// pathHits and readHits say which cache must have answered.
		pathHits, readHits bool
	}{
		// others_changes: stat of a path again after a child's link,
		// unlink, O_TRUNC, write, truncate, fchmod, fchown, rename,
		// mapped write, futimens, mkfifo and bind; search permission
		// after the supplementary groups change.
		{name: "others_changes", pathHits: true},
		// other_names: reads and fstat of read-only descriptions of a
		// file's three names after writes, a mapping, ftruncate,
		// unlink, chmod and fallocate through the others.
		{name: "other_names", readHits: true},
		// attr_runs: chown, chmod and utimensat in a row, set-id bits
		// cleared by a chown, UTIME_OMIT, failing calls between
		// succeeding ones.
		{name: "attr_runs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := tu.StaticProgram(t, t.TempDir(), tc.name, testdataSource(t, "suites9", tc.name))
			want := tu.Run(t, timeout, worldWritableDir(t), "", prog)
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			dir := worldWritableDir(t)
			_, pathHits := pathCounts(t, dir, nil, want, prog)
			if tc.pathHits && pathHits == 0 {
				t.Error("no call was answered from the path cache: the test tested nothing of it")
			}
			if tc.readHits {
				if _, readHits, _ := sandboxCounts(t, worldWritableDir(t), nil, &want, prog); readHits == 0 {
					t.Error("no call was answered from the read cache: the test tested nothing of it")
				}
			}
		})
	}
}

// worldWritableDir is a new temporary directory that the programs'
// unprivileged ids may create files in.
func worldWritableDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSuites9Fixes compares programs of testdata/suites9 for fixes found
// with LTP directories beside ltp-dirs.txt (the stat, access, readlink
// and utime calls of the path cache) with a native run.
func TestSuites9Fixes(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range []string{
		// txtbsy: opening for writing or truncating a file a process
		// runs is ETXTBSY (LTP creat07).
		"txtbsy",
		// utimes_null: utimensat and futimesat of a NULL path with
		// AT_FDCWD are EFAULT (LTP utimes01).
		"utimes_null",
	} {
		t.Run(name, func(t *testing.T) {
			prog := tu.StaticProgram(t, t.TempDir(), name, testdataSource(t, "suites9", name))
			want := tu.Run(t, timeout, t.TempDir(), "", prog)
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			compare(t, want, tu.Sandbox(t, timeout, t.TempDir(), "", nil, prog))
		})
	}
}
