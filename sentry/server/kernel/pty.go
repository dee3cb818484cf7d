package kernel

import (
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/devpts"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pty"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Pseudo-terminals: /dev/ptmx makes a pair (package pty owns the
// terminal, its line discipline and its replay record; package
// fsimpl/devpts an end's description); /dev/pts lists the slaves, which
// open by path or with TIOCGPTPEER (package syscalls' pty.go). The
// kernel keeps each terminal's session and foreground group in the
// terminal and sends the signals its ISIG characters and resizes raise
// (SignalGroup; the kernel is every end's devpts.Kernel). After a server
// failure the terminals come back from their records (restore.go) and
// each end's description from its FileState (RestorePtyFile), without
// the bytes that were queued.

var _ devpts.Kernel = (*Kernel)(nil)

// NewPtyFile is a description of t's master or slave end, opened by d
// (nil: none) with flags.
func (k *Kernel) NewPtyFile(t *pty.Terminal, master bool, d *vfs.Dentry, flags uint32) *fdesc.File {
	ino := vfs.SynthIno(18, t.Index)
	if master {
		ino = vfs.SynthIno(3, devpts.PtmxMinor)
	}
	return vfs.NewFile(devpts.New(k, t, master, ino, vfs.SynthDev), d, flags)
}

// SignalGroup is devpts.Kernel's: sigs to process group pgid, as a
// terminal sends them.
func (k *Kernel) SignalGroup(pgid int32, sigs []linux.Signal) {
	var d Deferred
	k.Mu.Lock()
	for _, sig := range sigs {
		info := ksignal.SiginfoKill(int(sig), ksignal.SIKernel, 0, 0)
		for _, q := range k.ProcessGroupLocked(pgid) {
			k.SignalProcessLocked(q, nil, int(sig), info, &d)
		}
	}
	k.Mu.Unlock()
	d.Run(k.Out)
}

// OpenPty opens /dev/ptmx (a new terminal's master) or /dev/pts/<n> (its
// slave: EIO while locked or after the master closed) for the call c.
func (c *Task) OpenPty(d *vfs.Dentry, flags uint32) (*fdesc.File, error) {
	k := c.Kernel
	if d.Kind == vfs.KindDevPtmx {
		t, err := k.Ptys.New()
		if err != nil {
			return nil, err
		}
		return k.NewPtyFile(t, true, d, flags), nil
	}
	t := k.Ptys.Get(int(d.FD))
	if t == nil {
		return nil, unix.EIO
	}
	if err := t.OpenSlave(); err != nil {
		return nil, err
	}
	return k.NewPtyFile(t, false, d, flags), nil
}

// RestorePtyFile rebuilds a description of an end of a restored
// terminal (restore.go has made the terminals).
func (k *Kernel) RestorePtyFile(rc *Task, fs *sentrypb.FileState) (*fdesc.File, error) {
	t := k.Ptys.Get(int(fs.PtyIndex))
	if t == nil {
		return nil, fmt.Errorf("pty %d: no such terminal in the Restore: %w", fs.PtyIndex, unix.EINVAL)
	}
	if fs.PtyMaster {
		if err := t.AttachMaster(); err != nil {
			return nil, err
		}
	} else {
		t.AttachSlave()
	}
	var d *vfs.Dentry
	if rc != nil && len(fs.Path) != 0 {
		d, _ = k.VFS.Resolve(rc, k.VFS.Root, string(fs.Path), false)
	}
	f := k.NewPtyFile(t, fs.PtyMaster, d, fs.Flags)
	return f, nil
}
