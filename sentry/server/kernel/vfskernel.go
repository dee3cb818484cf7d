package kernel

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/filelock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The kernel as the vfs sees it (vfs.Kernel): the owner of every
// description (fdesc.Owner: vfs.NewFile gives each the kernel), the
// synthesized /dev and /proc, which package fsimpl/synth serves
// (Kernel.Synth), and the set-id rule of a write.

var _ vfs.Kernel = (*Kernel)(nil)

// DropDescriptionLocks is fdesc.Owner's: it drops the OFD and flock
// locks of description f, whose last reference went.
func (k *Kernel) DropDescriptionLocks(f *fdesc.File) {
	if ino, ok := LockIno(f); ok {
		k.Locks.RemoveOwner(ino, filelock.Owner[*fdtable.Table, *fdesc.File]{File: f}, true, true)
	}
}

// DropLease is fdesc.Owner's: it drops the lease of a description that
// is gone (async.go).
func (k *Kernel) DropLease(f *fdesc.File) {
	if ino, ok := LeaseIno(f); ok {
		k.Leases.Release(ino, f)
	}
}

// DurabilityHolds is fdesc.Owner's: whether the durability tracker
// holds description f, until its writes are durable (durable.go).
func (k *Kernel) DurabilityHolds(f *fdesc.File) bool { return k.Dur.Holds(f) }

// SynthLookup is vfs.Kernel's: a name in a synthesized directory.
func (k *Kernel) SynthLookup(c vfs.Caller, dir *vfs.Dentry, name string) (*vfs.Dentry, error) {
	return k.Synth.Lookup(c, dir, name)
}

// SynthReadlink is vfs.Kernel's: a synthesized symlink's target.
func (k *Kernel) SynthReadlink(c vfs.Caller, d *vfs.Dentry) (string, error) {
	return k.Synth.Readlink(c, d)
}

// MagicTarget is vfs.Kernel's: what a /proc magic link names.
func (k *Kernel) MagicTarget(c vfs.Caller, d *vfs.Dentry) (*vfs.Dentry, bool, error) {
	return k.Synth.MagicTarget(c, d)
}

// SynthStat is vfs.Kernel's: a synthesized file's attributes.
func (k *Kernel) SynthStat(d *vfs.Dentry) *goferpb.Stat { return k.Synth.Stat(d) }

// ProcOwner is vfs.Kernel's: the euid and egid of process pid. It takes
// k.Mu.
func (k *Kernel) ProcOwner(pid int32) (uid, gid uint32, ok bool) {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if p := k.Procs[pid]; p != nil {
		return p.Creds.EUID, p.Creds.EGID, true
	}
	return 0, 0, false
}

// KillPriv is vfs.Kernel's: call c's write through handle h clears d's
// set-id bits (write.go).
func (k *Kernel) KillPriv(c fdesc.Call, d *vfs.Dentry, h uint64, a auth.FileAttrs) {
	TaskFromCall(c).KillPriv(d, h, a)
}
