package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// nsEnv tells a daemon the namespaces it was started in (hex clone
// flags), by do (SysProcAttr.Cloneflags) or by its own first exec
// (reexecInNamespaces).
const nsEnv = "RUNSC_DECOUPLED_NAMESPACES"

// daemonNamespaces are the namespaces a daemon gets: its own mount
// namespace (it sees only what it needs, pivotRoot), IPC and UTS
// namespaces, and an empty network namespace when it neither listens nor
// dials on TCP (Unix sockets are reached by path, not through the network
// namespace). hostNetwork (a server whose applications use the host's
// network) keeps the host's network namespace.
func daemonNamespaces(hostNetwork bool, targets ...transport.Target) uintptr {
	f := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if hostNetwork {
		return f
	}
	for _, t := range targets {
		if t.Network != "unix" {
			return f
		}
	}
	return f | unix.CLONE_NEWNET
}

// inNamespaces returns the clone flags the daemon was started with
// (nsEnv) and whether its starter set them (0 then means the kernel
// refused them), and forgets them so nothing it starts inherits them.
func inNamespaces() (flags uintptr, set bool) {
	v, set := os.LookupEnv(nsEnv)
	os.Unsetenv(nsEnv)
	f, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return 0, false
	}
	return uintptr(f), set
}

// reexecInNamespaces moves this daemon into new namespaces and executes
// it again (/proc/self/exe, same arguments and pid); it returns only if
// that failed. A Go program cannot move itself: unshare(2) moves only the
// calling thread, and the runtime already runs several. So the calling
// thread, locked, unshares and then execs, which ends every other thread
// and leaves the process in the thread's namespaces.
//
// moved false means the kernel refused the namespaces (not root, say) and
// nothing changed: the daemon may carry on in the host's.
func reexecInNamespaces(flags uintptr) (moved bool, err error) {
	runtime.LockOSThread()
	if err := unix.Unshare(int(flags)); err != nil {
		runtime.UnlockOSThread()
		return false, fmt.Errorf("unshare %#x: %w", flags, err)
	}
	env := append(os.Environ(), nsEnv+"="+strconv.FormatUint(uint64(flags), 16))
	err = unix.Exec("/proc/self/exe", os.Args, env)
	// This thread is now in other namespaces than the rest: unusable.
	return true, fmt.Errorf("exec /proc/self/exe in new namespaces: %w", err)
}

// bindSpec is a host path a confined daemon keeps, at the same path.
type bindSpec struct {
	path     string
	readOnly bool
	// optional: a missing path is skipped.
	optional bool
}

// newRootDir is where the new root is built before pivotRoot: /sys, which
// every Linux host has and no daemon needs (the tmpfs over it is only in
// the daemon's mount namespace).
const newRootDir = "/sys"

// prepareRoot builds, in the daemon's own mount namespace, the root
// pivotRoot will switch to: an empty tmpfs holding only keep, each bound
// at its own path (reachable before the switch under newRootDir). A
// daemon that holds a file descriptor into a kept tree must open it
// there, not at the host path: the host's tree is detached by pivotRoot,
// and with it any file system mounted below a directory it holds.
func prepareRoot(keep []bindSpec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// Hold each source open: the tmpfs may cover the path a source was
	// reached by.
	type src struct {
		bindSpec
		fd  int
		dir bool
	}
	var srcs []src
	defer func() {
		for _, s := range srcs {
			unix.Close(s.fd)
		}
	}()
	for _, k := range keep {
		fd, err := unix.Open(k.path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			if k.optional && errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("open %q: %w", k.path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return fmt.Errorf("stat %q: %w", k.path, err)
		}
		srcs = append(srcs, src{bindSpec: k, fd: fd, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR})
	}
	if err := unix.Mount("tmpfs", newRootDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("mount the new root: %w", err)
	}
	for _, s := range srcs {
		target := inNewRoot(s.path)
		if s.dir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("mount point %q: %w", s.path, err)
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return fmt.Errorf("mount point %q: %w", s.path, err)
			}
			if err := os.WriteFile(target, nil, 0o644); err != nil {
				return fmt.Errorf("mount point %q: %w", s.path, err)
			}
		}
		from := "/proc/self/fd/" + strconv.Itoa(s.fd)
		if err := unix.Mount(from, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %q: %w", s.path, err)
		}
		if s.readOnly {
			if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
				return fmt.Errorf("read-only %q: %w", s.path, err)
			}
		}
	}
	return nil
}

// inNewRoot is where host path p is kept before pivotRoot.
func inNewRoot(p string) string {
	return filepath.Join(newRootDir, p)
}

// pivotRoot switches the daemon's root to what prepareRoot built and
// detaches the host's tree: what a compromised daemon can reach by path is
// what its job needs. Open descriptors (the log, the listener) still
// work.
func pivotRoot() error {
	// pivot_root(new, new) stacks the old root on the new one; detaching
	// it leaves the new root alone (as runc does).
	if err := unix.Chdir(newRootDir); err != nil {
		return fmt.Errorf("chdir to the new root: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("remount the new root read-only: %w", err)
	}
	return nil
}

// resolverFiles are what Go's resolver reads to find a host by name.
var resolverFiles = []bindSpec{
	{path: "/etc/hosts", readOnly: true, optional: true},
	{path: "/etc/resolv.conf", readOnly: true, optional: true},
	{path: "/etc/nsswitch.conf", readOnly: true, optional: true},
	{path: "/etc/host.conf", readOnly: true, optional: true},
}
