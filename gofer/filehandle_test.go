package gofer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileHandleOf checks that fileHandleOf's one call into a buffer on
// the stack gives the handle unix.NameToHandleAt gives, of a regular
// file, a directory and a symlink (O_PATH fds, as handles hold), nil
// where the filesystem has none (procfs), and allocates only the encoded
// handle.
func TestFileHandleOf(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"f", "l", ""} {
		fd, err := unix.Open(filepath.Join(dir, name), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		fh, _, err := unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH)
		if err != nil {
			t.Skipf("the test's filesystem gives no file handles: %v", err)
		}
		want := encodeFileHandle(fh.Type(), fh.Bytes())
		if got := fileHandleOf(fd); !bytes.Equal(got, want) {
			t.Errorf("%q: fileHandleOf %x, want %x", name, got, want)
		}
		if n := testing.AllocsPerRun(100, func() { fileHandleOf(fd) }); n != 1 {
			t.Errorf("%q: %v allocations a handle, want 1 (the encoded handle)", name, n)
		}
	}
	fd, err := unix.Open("/proc/self/status", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if got := fileHandleOf(fd); got != nil {
		t.Errorf("procfs file: handle %x, want none", got)
	}
}
