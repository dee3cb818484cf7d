package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// kernelPorts is the kernel as the packages below see it: the methods of
// their interfaces (vfs.Kernel and fdesc.Owner) whose bodies are still
// here (devpts.Kernel's, netlink.Router's, synth.Kernel's and
// unixsock.Namespace's are package kernel's own, *kernel.Kernel)
// and of the kernel's own (kernel.Files).
// It is a defined type over the kernel's own struct, so that
// ports(k) is a pointer conversion: the kernel (clientState) keeps no
// methods, and becomes package kernel's type while these stay here,
// their bodies calling kernel functions not yet moved. Every value of
// these interfaces that holds the kernel holds a *kernelPorts (an
// fdesc.Owner compared with one must be one too).
type kernelPorts clientState

// ports is k as the packages below see it.
func ports(k *clientState) *kernelPorts { return (*kernelPorts)(k) }

var _ kernel.Files = (*kernelPorts)(nil)

// DropDescriptionLocks is fdesc.Owner's: it drops the OFD and flock
// locks of description f, whose last reference went.
func (kp *kernelPorts) DropDescriptionLocks(f *fdesc.File) {
	k := (*clientState)(kp)
	if ino, ok := kernel.LockIno(f); ok {
		k.Locks.RemoveOwner(ino, filelock.Owner[*fdtable.Table, *fdesc.File]{File: f}, true, true)
	}
}

// DropLease is fdesc.Owner's: it drops the lease of a description that
// is gone.
func (kp *kernelPorts) DropLease(f *fdesc.File) {
	k := (*clientState)(kp)
	if ino, ok := kernel.LeaseIno(f); ok {
		k.Leases.Release(ino, f)
	}
}

// InotifyClosed is fdesc.Owner's: inotify's close event of f (package
// kernel's inotify.go).
func (kp *kernelPorts) InotifyClosed(f *fdesc.File) { (*clientState)(kp).InotifyClosed(f) }

// RevokeLeasesForWatch revokes the client's leases as an added inotify
// watch needs (readlease.go).
func (kp *kernelPorts) RevokeLeasesForWatch() { revokeLeasesForWatch((*clientState)(kp)) }

// OwnedFileOpened voids the owned claim on d, which a call opens
// (readlease.go).
func (kp *kernelPorts) OwnedFileOpened(d *vfs.Dentry) { ownedFileOpened((*clientState)(kp), d) }

// DurabilityHolds is fdesc.Owner's: whether the durability tracker
// holds description f (until its writes are durable; package kernel's
// durable.go).
func (kp *kernelPorts) DurabilityHolds(f *fdesc.File) bool { return kp.Dur.Holds(f) }

var _ fdesc.Owner = (*kernelPorts)(nil)

// RestoreSyntheticFile is kernel.Files': a synthesized file opened
// again by path, as open(2) opens it (package syscalls' open.go), for a
// Restore.
func (kp *kernelPorts) RestoreSyntheticFile(rc *syscallCtx, fs *sentrypb.FileState) (*fdesc.File, error) {
	return syscalls.RestoreSyntheticFile((*clientState)(kp), rc, fs)
}

// SynthLookup is vfs.Kernel's: a name in a synthesized directory.
func (kp *kernelPorts) SynthLookup(c vfs.Caller, dir *vfs.Dentry, name string) (*vfs.Dentry, error) {
	k := (*clientState)(kp)
	return k.Synth.Lookup(c, dir, name)
}

// SynthReadlink is vfs.Kernel's: a synthesized symlink's target.
func (kp *kernelPorts) SynthReadlink(c vfs.Caller, d *vfs.Dentry) (string, error) {
	k := (*clientState)(kp)
	return k.Synth.Readlink(c, d)
}

// MagicTarget is vfs.Kernel's: what a /proc magic link names.
func (kp *kernelPorts) MagicTarget(c vfs.Caller, d *vfs.Dentry) (*vfs.Dentry, bool, error) {
	k := (*clientState)(kp)
	return k.Synth.MagicTarget(c, d)
}

// SynthStat is vfs.Kernel's: a synthesized file's attributes.
func (kp *kernelPorts) SynthStat(d *vfs.Dentry) *goferpb.Stat { return kp.Synth.Stat(d) }

// ProcOwner is vfs.Kernel's: the euid and egid of process pid.
func (kp *kernelPorts) ProcOwner(pid int32) (uid, gid uint32, ok bool) {
	k := (*clientState)(kp)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if p := k.Procs[pid]; p != nil {
		return p.Creds.EUID, p.Creds.EGID, true
	}
	return 0, 0, false
}
