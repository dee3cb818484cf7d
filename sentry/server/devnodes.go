package server

import (
	"errors"
	"fmt"
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

// maxDevNodes bounds Hello.devices.
const maxDevNodes = 256

// errDevNode marks a Hello refused for its devices.
var errDevNode = errors.New("device")

// checkDevNodes checks Hello.devices: each a name directly in /dev that
// no fixed name of the sentry's /dev takes (but with the same device),
// of type char, block or FIFO.
func checkDevNodes(nodes []*sentrypb.DeviceNode) ([]*sentrypb.DeviceNode, error) {
	if len(nodes) > maxDevNodes {
		return nil, fmt.Errorf("%w nodes: %d (at most %d)", errDevNode, len(nodes), maxDevNodes)
	}
	seen := map[string]bool{}
	var out []*sentrypb.DeviceNode
	for _, n := range nodes {
		if n == nil || n.Name == "" || n.Name == "." || n.Name == ".." || strings.ContainsAny(n.Name, "/\x00") || len(n.Name) > 255 {
			return nil, fmt.Errorf("%w /dev/%s: want a name directly in /dev", errDevNode, n.GetName())
		}
		switch n.Mode & unix.S_IFMT {
		case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		default:
			return nil, fmt.Errorf("%w /dev/%s: mode %#o is not a character, block or FIFO node", errDevNode, n.Name, n.Mode)
		}
		if n.Mode&^(unix.S_IFMT|07777) != 0 || seen[n.Name] {
			return nil, fmt.Errorf("%w /dev/%s: bad mode or listed twice", errDevNode, n.Name)
		}
		seen[n.Name] = true
		if fixed, ok := devNodes[n.Name]; ok {
			// The sentry's own node: the same device is fine (runc's
			// default devices list them), another is not.
			if n.Mode&unix.S_IFMT == unix.S_IFCHR && n.Major == 1 && uint64(n.Minor) == fixed.minor {
				continue
			}
			return nil, fmt.Errorf("%w /dev/%s: the sentry's /dev/%s is 1:%d", errDevNode, n.Name, n.Name, fixed.minor)
		}
		if _, ok := devLinks[n.Name]; ok || n.Name == "tty" || n.Name == "pts" || n.Name == "shm" || n.Name == "mqueue" {
			if n.Name == "tty" && n.Mode&unix.S_IFMT == unix.S_IFCHR && n.Major == 5 && n.Minor == 0 {
				continue
			}
			if n.Name == "ptmx" && n.Mode&unix.S_IFMT == unix.S_IFCHR && n.Major == 5 && n.Minor == 2 {
				continue
			}
			return nil, fmt.Errorf("%w /dev/%s: a name the sentry's /dev has", errDevNode, n.Name)
		}
		out = append(out, n)
	}
	return out, nil
}

// devNodeLookup resolves name in /dev among Hello.devices.
func (k *clientState) devNodeLookup(dir *dentry, name string) *dentry {
	for i, n := range k.devNodes {
		if n.Name == name {
			d := vfs.NewSynthDentry(dir, name, vfs.KindDevNode, n.Mode, vfs.SynthIno(19, i))
			d.FD = int32(i)
			return d
		}
	}
	return nil
}

// devNodeList lists Hello.devices for /dev.
func (k *clientState) devNodeList() []synthDirent {
	var out []synthDirent
	for i, n := range k.devNodes {
		typ := uint8(unix.DT_CHR)
		switch n.Mode & unix.S_IFMT {
		case unix.S_IFBLK:
			typ = unix.DT_BLK
		case unix.S_IFIFO:
			typ = unix.DT_FIFO
		}
		out = append(out, synthDirent{n.Name, vfs.SynthIno(19, i), typ})
	}
	return out
}

// openDevNode opens a node of Hello.devices: as the sentry's own device
// of its numbers, else ENXIO (no driver).
func (c *syscallCtx) openDevNode(d *dentry, flags uint32) (*file, error) {
	n := c.k.devNodes[d.FD]
	if n.Mode&unix.S_IFMT == unix.S_IFCHR {
		if n.Major == 1 {
			for _, dn := range devNodes {
				if dn.minor == uint64(n.Minor) {
					return newFile(&vfs.DevFile{Kind: dn.kind, D: d}, d, flags), nil
				}
			}
		}
		if n.Major == 5 && n.Minor == devpts.PtmxMinor {
			ptmx := vfs.NewSynthDentry(c.k.vfs.ParentOf(d), c.k.vfs.NameOf(d), vfs.KindDevPtmx, unix.S_IFCHR|0666, vfs.SynthIno(3, devpts.PtmxMinor))
			return c.openPty(ptmx, flags)
		}
	}
	return nil, unix.ENXIO
}
