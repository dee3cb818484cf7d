package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RootSetup is how the gofer prepares the tree it serves: the container's
// mounts, then a read-only root. It is passed to the gofer as JSON.
type RootSetup struct {
	Mounts   []Mount `json:"mounts,omitempty"`
	Readonly bool    `json:"readonly,omitempty"`
}

// Apply performs s on root. The caller must be alone in a mount namespace
// of its own (the gofer is started with CLONE_NEWNS): the first step makes
// every mount in it private, so nothing done here reaches the host.
// Destinations are resolved inside root (symlinks cannot lead out of it)
// and created when missing, as runc does.
func (s *RootSetup) Apply(root string) error {
	if len(s.Mounts) == 0 && !s.Readonly {
		return nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// A mount of root onto itself lets it be remounted read-only without
	// touching the host's mount of that directory.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %q onto itself: %w", root, err)
	}
	for i, m := range s.Mounts {
		if err := mountOne(root, m); err != nil {
			return fmt.Errorf("mounts[%d] (%s at %s): %w", i, m.Type, m.Destination, err)
		}
	}
	if s.Readonly {
		if err := unix.Mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("root read-only: %w", err)
		}
	}
	return nil
}

func mountOne(root string, m Mount) error {
	wantFile := false
	if m.Type == "bind" {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		wantFile = !fi.IsDir()
	}
	fd, err := openInRoot(root, m.Destination, wantFile)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	target := "/proc/self/fd/" + strconv.Itoa(fd)
	switch m.Type {
	case "bind":
		if err := unix.Mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %q: %w", m.Source, err)
		}
		if m.Flags != 0 {
			// The new mount is now what the fd's path names; reopen it.
			fd2, err := openInRoot(root, m.Destination, wantFile)
			if err != nil {
				return err
			}
			defer unix.Close(fd2)
			if err := unix.Mount("", "/proc/self/fd/"+strconv.Itoa(fd2), "", unix.MS_BIND|unix.MS_REMOUNT|m.Flags, ""); err != nil {
				return fmt.Errorf("remount with flags %#x: %w", m.Flags, err)
			}
		}
	case "tmpfs":
		if err := unix.Mount("tmpfs", target, "tmpfs", m.Flags, m.Data); err != nil {
			return fmt.Errorf("tmpfs %q: %w", m.Data, err)
		}
	default:
		return fmt.Errorf("type %q: %w", m.Type, unix.EINVAL)
	}
	return nil
}

// openInRoot opens path (absolute, inside root) as an O_PATH fd, resolving
// it as if root were / (RESOLVE_IN_ROOT: .. and symlinks stay inside), and
// creates missing components: directories, and for wantFile an empty file
// as the last one.
func openInRoot(root, path string, wantFile bool) (int, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open root %q: %w", root, err)
	}
	defer unix.Close(rootFD)
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	parts := strings.Split(strings.Trim(filepath.Clean(path), "/"), "/")
	if len(parts) == 1 && parts[0] == "" {
		return unix.Openat2(rootFD, ".", how)
	}
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := unix.Openat2(rootFD, prefix, how)
		if err == nil {
			if i == len(parts)-1 {
				return fd, nil
			}
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, fmt.Errorf("open %q in the root: %w", prefix, err)
		}
		parent, err := unix.Openat2(rootFD, strings.Join(append([]string{"."}, parts[:i]...), "/"), &unix.OpenHow{Flags: unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_RDONLY, Resolve: how.Resolve})
		if err != nil {
			return -1, fmt.Errorf("open the parent of %q in the root: %w", prefix, err)
		}
		if i == len(parts)-1 && wantFile {
			var f int
			f, err = unix.Openat(parent, parts[i], unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
			if err == nil {
				unix.Close(f)
			}
		} else {
			err = unix.Mkdirat(parent, parts[i], 0o755)
		}
		unix.Close(parent)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("create %q in the root: %w", prefix, err)
		}
		fd, err = unix.Openat2(rootFD, prefix, how)
		if err != nil {
			return -1, fmt.Errorf("open %q in the root: %w", prefix, err)
		}
		if i == len(parts)-1 {
			return fd, nil
		}
		unix.Close(fd)
	}
	return -1, unix.EINVAL
}
