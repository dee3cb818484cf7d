package testutil

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// MountTmpfs makes directory dir and mounts a tmpfs there with options
// (e.g. "size=1m"): a small disk a test can fill. unmount detaches it
// (MNT_DETACH: a daemon may still hold files in it) and removes dir.
func MountTmpfs(dir, options string) (unmount func() error, err error) {
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return nil, err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, options); err != nil {
		return nil, fmt.Errorf("mount tmpfs (%s) at %s: %w", options, dir, err)
	}
	return func() error {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
		return os.Remove(dir)
	}, nil
}

// Tmpfs mounts a tmpfs with options at dir (MountTmpfs), unmounted when
// t ends.
func Tmpfs(t testing.TB, dir, options string) {
	t.Helper()
	unmount, err := MountTmpfs(dir, options)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmount() })
}
