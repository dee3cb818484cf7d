package synth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Device nodes of Hello.devices (an OCI container's linux.devices): names
// of /dev with the type, numbers, permissions and owner the caller gave.
// The sentry has no device drivers: a node of a device it serves itself
// (1:3 null, 1:5 zero, 1:7 full, 1:8 random, 1:9 urandom, 5:2 ptmx) opens
// as that device; any other opens with ENXIO, as a node whose driver is
// missing does on Linux (a FIFO node too: not a pipe here).

// MaxDevNodes bounds Hello.devices.
const MaxDevNodes = 256

// ErrDevNode marks a Hello refused for its devices.
var ErrDevNode = errors.New("device")

// CheckDevNodes checks Hello.devices: each a name directly in /dev that
// no fixed name of the sentry's /dev takes (but with the same device),
// of type char, block or FIFO.
func CheckDevNodes(nodes []*sentrypb.DeviceNode) ([]*sentrypb.DeviceNode, error) {
	if len(nodes) > MaxDevNodes {
		return nil, fmt.Errorf("%w nodes: %d (at most %d)", ErrDevNode, len(nodes), MaxDevNodes)
	}
	seen := map[string]bool{}
	var out []*sentrypb.DeviceNode
	for _, n := range nodes {
		if n == nil || n.Name == "" || n.Name == "." || n.Name == ".." || strings.ContainsAny(n.Name, "/\x00") || len(n.Name) > 255 {
			return nil, fmt.Errorf("%w /dev/%s: want a name directly in /dev", ErrDevNode, n.GetName())
		}
		switch n.Mode & unix.S_IFMT {
		case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		default:
			return nil, fmt.Errorf("%w /dev/%s: mode %#o is not a character, block or FIFO node", ErrDevNode, n.Name, n.Mode)
		}
		if n.Mode&^(unix.S_IFMT|07777) != 0 || seen[n.Name] {
			return nil, fmt.Errorf("%w /dev/%s: bad mode or listed twice", ErrDevNode, n.Name)
		}
		seen[n.Name] = true
		if fixed, ok := devNodes[n.Name]; ok {
			// The sentry's own node: the same device is fine (runc's
			// default devices list them), another is not.
			if n.Mode&unix.S_IFMT == unix.S_IFCHR && n.Major == 1 && uint64(n.Minor) == fixed.minor {
				continue
			}
			return nil, fmt.Errorf("%w /dev/%s: the sentry's /dev/%s is 1:%d", ErrDevNode, n.Name, n.Name, fixed.minor)
		}
		if _, ok := devLinks[n.Name]; ok || n.Name == "tty" || n.Name == "pts" || n.Name == "shm" || n.Name == "mqueue" {
			if n.Name == "tty" && n.Mode&unix.S_IFMT == unix.S_IFCHR && n.Major == 5 && n.Minor == 0 {
				continue
			}
			if n.Name == "ptmx" && n.Mode&unix.S_IFMT == unix.S_IFCHR && n.Major == 5 && n.Minor == 2 {
				continue
			}
			return nil, fmt.Errorf("%w /dev/%s: a name the sentry's /dev has", ErrDevNode, n.Name)
		}
		out = append(out, n)
	}
	return out, nil
}

// devNodeLookup resolves name in /dev among Hello.devices.
func (fs *FS) devNodeLookup(dir *vfs.Dentry, name string) *vfs.Dentry {
	for i, n := range fs.devNodes {
		if n.Name == name {
			d := vfs.NewSynthDentry(dir, name, vfs.KindDevNode, n.Mode, vfs.SynthIno(19, i))
			d.FD = int32(i)
			return d
		}
	}
	return nil
}

// devNodeList lists Hello.devices for /dev.
func (fs *FS) devNodeList() []Dirent {
	var out []Dirent
	for i, n := range fs.devNodes {
		typ := uint8(unix.DT_CHR)
		switch n.Mode & unix.S_IFMT {
		case unix.S_IFBLK:
			typ = unix.DT_BLK
		case unix.S_IFIFO:
			typ = unix.DT_FIFO
		}
		out = append(out, Dirent{n.Name, vfs.SynthIno(19, i), typ})
	}
	return out
}

// ptyLookup resolves name in /dev (pts; /dev/ptmx is a link to
// pts/ptmx, devLinks) or /dev/pts (ptmx, <n>).
func (fs *FS) ptyLookup(dir *vfs.Dentry, name string) *vfs.Dentry {
	mk := func(kind vfs.Kind, mode uint32, ino uint64) *vfs.Dentry {
		return vfs.NewSynthDentry(dir, name, kind, mode, ino)
	}
	switch {
	case dir.Kind == vfs.KindDevPtsDir && name == "ptmx":
		return mk(vfs.KindDevPtmx, unix.S_IFCHR|0666, vfs.SynthIno(3, devpts.PtmxMinor))
	case dir.Kind == vfs.KindDevDir && name == "pts":
		return mk(vfs.KindDevPtsDir, unix.S_IFDIR|0755, vfs.SynthIno(17, 0))
	case dir.Kind == vfs.KindDevPtsDir:
		n, err := strconv.Atoi(name)
		if err != nil || n < 0 || strconv.Itoa(n) != name || fs.ptys.Get(n) == nil {
			return nil
		}
		d := mk(vfs.KindDevPts, unix.S_IFCHR|0620, vfs.SynthIno(18, n))
		d.FD = int32(n)
		return d
	}
	return nil
}

// ptsList lists /dev/pts.
func (fs *FS) ptsList() []Dirent {
	out := []Dirent{{"ptmx", vfs.SynthIno(3, devpts.PtmxMinor), unix.DT_CHR}}
	for _, n := range fs.ptys.Indexes() {
		out = append(out, Dirent{strconv.Itoa(n), vfs.SynthIno(18, n), unix.DT_CHR})
	}
	return out
}

// DevKindOfMinor returns the device the sentry serves as 1:minor.
func DevKindOfMinor(minor uint32) (vfs.DevKind, bool) {
	for _, n := range devNodes {
		if n.minor == uint64(minor) {
			return n.kind, true
		}
	}
	return 0, false
}
