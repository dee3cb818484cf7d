package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/synth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// OpenDevNode opens a node of Hello.devices: as the sentry's own device
// of its numbers, else ENXIO (no driver).
func (c *Task) OpenDevNode(d *vfs.Dentry, flags uint32) (*fdesc.File, error) {
	n := c.Kernel.DevNodes[d.FD]
	if n.Mode&unix.S_IFMT == unix.S_IFCHR {
		if n.Major == 1 {
			if kind, ok := synth.DevKindOfMinor(n.Minor); ok {
				return vfs.NewFile(&vfs.DevFile{Kind: kind, D: d}, d, flags), nil
			}
		}
		if n.Major == 5 && n.Minor == devpts.PtmxMinor {
			ptmx := vfs.NewSynthDentry(c.Kernel.VFS.ParentOf(d), c.Kernel.VFS.NameOf(d), vfs.KindDevPtmx, unix.S_IFCHR|0666, vfs.SynthIno(3, devpts.PtmxMinor))
			return c.OpenPty(ptmx, flags)
		}
	}
	return nil, unix.ENXIO
}
