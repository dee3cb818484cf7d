package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RootSetup is how the gofer prepares the tree it serves: an in-memory
// overlay (do's default), the container's mounts, then a read-only root.
// It is passed to the gofer as JSON.
type RootSetup struct {
	Mounts   []Mount `json:"mounts,omitempty"`
	Readonly bool    `json:"readonly,omitempty"`
	// Overlay serves the root through overlayfs with its upper layers in
	// a tmpfs mounted at ScratchDir (an empty directory the caller made
	// and removes): writes stay in memory, the host's files are never
	// changed. Every file system under the root gets its own overlay, but
	// the pseudo ones (proc, sysfs, devtmpfs, ...), whose place the
	// sentry's /proc and /dev take, are left out.
	Overlay    bool   `json:"overlay,omitempty"`
	ScratchDir string `json:"scratch_dir,omitempty"`
	// SentryScratch mounts SentryScratch after Mounts; a failure (a root
	// on a read-only host file system) is a warning: the sentry then
	// uses the root's own /dev/shm or /tmp.
	SentryScratch bool `json:"sentry_scratch,omitempty"`
}

// Apply performs s on root and returns the directory to serve (root, or
// the overlay's merged tree). The caller must be alone in a mount
// namespace of its own (the gofer is started with CLONE_NEWNS): the first
// step makes every mount in it private, so nothing done here reaches the
// host. Destinations are resolved inside the served tree (symlinks cannot
// lead out of it) and created when missing, as runc does. Warnings (file
// systems the overlay could not cover) go to warn.
func (s *RootSetup) Apply(root string, warn func(string)) (string, error) {
	if len(s.Mounts) == 0 && !s.Readonly && !s.Overlay && !s.SentryScratch {
		return root, nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return "", fmt.Errorf("make mounts private: %w", err)
	}
	served := root
	if s.Overlay {
		var err error
		if served, err = overlayTree(root, s.ScratchDir, warn); err != nil {
			return "", err
		}
	} else if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		// A mount of root onto itself lets it be remounted read-only
		// without touching the host's mount of that directory.
		return "", fmt.Errorf("bind %q onto itself: %w", root, err)
	}
	for i, m := range s.Mounts {
		if err := mountOne(served, m); err != nil {
			return "", fmt.Errorf("mounts[%d] (%s at %s): %w", i, m.Type, m.Destination, err)
		}
	}
	if s.SentryScratch {
		if err := mountOne(served, SentryScratch); err != nil {
			warn(fmt.Sprintf("no tmpfs at %s for the sentry's directories: %v", SentryScratch.Destination, err))
		}
	}
	if s.Readonly {
		if err := unix.Mount("", served, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return "", fmt.Errorf("root read-only: %w", err)
		}
	}
	return served, nil
}

// SentryScratch is the mount the gofer of a container adds under its
// root for the sentry's own per-sandbox directories (those of /dev/shm
// and of the tmpfs mounts of mount(2)): a tmpfs at /dev/shm, which the
// application never sees (the sentry serves /dev itself), so they are in
// memory, and writable on a read-only root or an image without /tmp.
var SentryScratch = Mount{Type: "tmpfs", Destination: "/dev/shm", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Data: "mode=1777"}

// pseudoFS are file systems the overlay leaves out, with what is under
// them: the sentry serves /proc and /dev itself, and the others hold host
// state, not files.
var pseudoFS = map[string]bool{
	"proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "cgroup": true, "cgroup2": true,
	"mqueue": true, "securityfs": true, "debugfs": true, "tracefs": true, "pstore": true, "bpf": true,
	"configfs": true, "fusectl": true, "hugetlbfs": true, "autofs": true, "binfmt_misc": true,
	"efivarfs": true, "nsfs": true, "rpc_pipefs": true, "selinuxfs": true,
}

// overlayTree mounts a tmpfs at scratch and, for root and each file
// system mounted under it, an overlay (lower: that file system, upper: a
// directory of the tmpfs) at the same place under scratch/merged, which
// it returns. The lower layers are the original mounts, which nothing
// here covers, so their order does not matter beyond parents first.
func overlayTree(root, scratch string, warn func(string)) (string, error) {
	if scratch == "" {
		return "", fmt.Errorf("overlay: no scratch directory")
	}
	if err := unix.Mount("tmpfs", scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		return "", fmt.Errorf("overlay: tmpfs at %q: %w", scratch, err)
	}
	merged := filepath.Join(scratch, "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		return "", fmt.Errorf("overlay: %w", err)
	}
	mounts, err := mountsUnder(root)
	if err != nil {
		return "", err
	}
	var skipped []string
	for i, m := range mounts {
		rel, _ := filepath.Rel(root, m.path)
		under := func(dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }
		skip := false
		for _, d := range skipped {
			skip = skip || under(d)
		}
		// The scratch directory itself, and anything below it.
		if r, err := filepath.Rel(scratch, m.path); err == nil && !strings.HasPrefix(r, "..") {
			skip = true
		}
		if skip || pseudoFS[m.fstype] {
			skipped = append(skipped, rel)
			continue
		}
		upper := filepath.Join(scratch, "upper", strconv.Itoa(i))
		work := filepath.Join(scratch, "work", strconv.Itoa(i))
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return "", fmt.Errorf("overlay: %w", err)
			}
		}
		target := filepath.Join(merged, rel)
		opts := "lowerdir=" + escapeOverlay(m.path) + ",upperdir=" + escapeOverlay(upper) + ",workdir=" + escapeOverlay(work)
		if err := mountOverlay(target, opts); err != nil {
			if rel == "." {
				return "", fmt.Errorf("overlay over %q: %w", root, err)
			}
			// Its mountpoint then shows as an empty directory.
			warn(fmt.Sprintf("overlay: %s (%s) left out: %v", m.path, m.fstype, err))
			skipped = append(skipped, rel)
		}
	}
	return merged, nil
}

// mountOverlay mounts an overlay at target with opts, asking for
// xino: every file of the overlay then has the overlay's device and an
// inode number unique in it (the layer's index in its high bits). Without
// it a directory has the overlay's device and a number from a counter,
// and a file that of the layer it is in, so one overlay shows three
// devices (du -x and cp -x stop at a file of the lower layer), and the
// upper tmpfs's numbers, counted from 1, meet the directories': the
// server's path leases, which name an inode by its number
// (docs/ARCHITECTURE.md), took each new file written for a change of the
// directory of the same number (cp -r of /usr/include: 6,052 of 6,881
// lstat answers of the source lost). A kernel without xino (before 4.17)
// refuses the option: then the overlay goes without it.
func mountOverlay(target, opts string) error {
	err := unix.Mount("overlay", target, "overlay", 0, opts+",xino=on")
	if err == unix.EINVAL {
		err = unix.Mount("overlay", target, "overlay", 0, opts)
	}
	return err
}

// escapeOverlay escapes the characters overlayfs options treat specially.
func escapeOverlay(p string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ":", `\:`).Replace(p)
}

type mountEntry struct {
	path, fstype string
}

// mountsUnder lists the mounts at or under root from /proc/self/mountinfo,
// parents before children; of mounts stacked on one path, the top one.
func mountsUnder(root string) ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	root = filepath.Clean(root)
	byPath := map[string]int{}
	var out []mountEntry
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		p := unescape.Replace(f[4])
		if rel, err := filepath.Rel(root, p); err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		e := mountEntry{path: p, fstype: f[sep+1]}
		if i, ok := byPath[p]; ok {
			out[i] = e
			continue
		}
		byPath[p] = len(out)
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return depth(out[i].path) < depth(out[j].path) })
	if len(out) == 0 || filepath.Clean(out[0].path) != root {
		// root is a plain directory of the file system mounted above it.
		out = append([]mountEntry{{path: root, fstype: "dir"}}, out...)
	}
	return out, nil
}

func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(filepath.Clean(p), "/")
}

func mountOne(root string, m Mount) error {
	if m.Type == "mask" || m.Type == "readonly" {
		return protectPath(root, m)
	}
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

// protectPath masks (m.Type "mask") or makes read-only ("readonly")
// m.Destination, a path inside root, as runc applies linux.maskedPaths and
// linux.readonlyPaths; a path that does not exist is left alone.
func protectPath(root string, m Mount) error {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root %q: %w", root, err)
	}
	defer unix.Close(rootFD)
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	open := func() (int, error) { return unix.Openat2(rootFD, "."+m.Destination, how) }
	fd, err := open()
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %q in the root: %w", m.Destination, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	target := "/proc/self/fd/" + strconv.Itoa(fd)
	if m.Type == "mask" {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = unix.Mount("tmpfs", target, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=0555")
		} else {
			err = unix.Mount("/dev/null", target, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask: %w", err)
		}
		return nil
	}
	if err := unix.Mount(target, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind onto itself: %w", err)
	}
	// The new mount is now what the path names; reopen it.
	fd2, err := open()
	if err != nil {
		return fmt.Errorf("open %q in the root: %w", m.Destination, err)
	}
	defer unix.Close(fd2)
	if err := unix.Mount("", "/proc/self/fd/"+strconv.Itoa(fd2), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("remount read-only: %w", err)
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
