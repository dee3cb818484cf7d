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

// TestNoHandlesAskedOnce checks that a filesystem that gave no file
// handle (procfs: EOPNOTSUPP) is asked again only every noHandleProbe-th
// handle of a file there, and that a device noted so whose filesystem
// gives handles (a device number reused) is asked each time again once
// a probe got one.
func TestNoHandlesAskedOnce(t *testing.T) {
	handleOn := func(path string) (fd int, dev uint64) {
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { noHandles.forget(st.Dev) })
		return fd, st.Dev
	}
	calls := func(fd int, dev uint64, n int) (asked uint64, got int) {
		before := fileHandleCalls.Load()
		for range n {
			if fileHandleOn(fd, dev) != nil {
				got++
			}
		}
		return fileHandleCalls.Load() - before, got
	}

	proc, procDev := handleOn("/proc/self/status")
	if asked, got := calls(proc, procDev, 200); asked != 1+199/noHandleProbe || got != 0 {
		t.Errorf("procfs: asked %d times for 200 handles, got %d; want %d and 0", asked, got, 1+199/noHandleProbe)
	}

	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fd, dev := handleOn(f)
	if fileHandleOf(fd) == nil {
		t.Skip("the test's filesystem gives no file handles")
	}
	noHandles.note(dev) // as if an unmounted filesystem had left its number
	if asked, got := calls(fd, dev, 200); asked != 200-(noHandleProbe-1) || got != int(asked) {
		t.Errorf("a device noted wrongly: asked %d times for 200 handles, got %d; want %d", asked, got, 200-(noHandleProbe-1))
	}
}
