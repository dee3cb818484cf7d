package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// searchableDir returns a new directory that uid 1000 may search (t's
// TempDir is 0700 under a 0700 parent), removed when t ends.
func searchableDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "harden2-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSetIDBits: set-id bits as Linux keeps them inside the sandbox
// (testdata/harden2/setid.c, compared with a native run as root), while
// the host files the sandbox left carry none.
func TestSetIDBits(t *testing.T) {
	tu.RequireRoot(t)
	src, err := os.ReadFile(filepath.Join("testdata", "harden2", "setid.c"))
	if err != nil {
		t.Fatal(err)
	}
	prog := tu.StaticProgram(t, searchableDir(t), "setid", string(src))
	want := tu.Run(t, timeout, searchableDir(t), "", prog)
	dir := searchableDir(t)
	got := tu.Sandbox(t, timeout, dir, "", nil, prog)
	compare(t, want, got)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		// Only a directory may keep set-group-ID on the host.
		if bad := st.Mode & (unix.S_ISUID | unix.S_ISGID); bad != 0 && (st.Mode&unix.S_IFMT != unix.S_IFDIR || bad&unix.S_ISUID != 0) {
			t.Errorf("host file %s has mode %#o", p, st.Mode&0o7777)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
