package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
)

// Mount namespaces (unshare and clone with CLONE_NEWNS). A namespace is
// a number: its mounts are those of the one mount table
// (mount.Mount.NS) and their Grafts on the one dentry tree (vfs.Graft.NS),
// which the walks of a process in it cross (Task.MountNS); the fs
// context carries it (FSContext.MntNS). A copy shares its original's
// dentries and files, as Linux's copy_mnt_ns shares superblocks, so the
// root and working directory of the context that moves into it need no
// change: they are the same dentries, now under the new namespace's
// mounts. Ids of mounts and peer groups are of the whole table, so
// propagation between peers of different namespaces is the table's
// ordinary one.

// NewMountNSLocked moves fs into a new mount namespace, a copy of its
// current one (copy_mnt_ns), and records the copies (the caller records
// fs).
// Precondition: k.VFS.MntMu and k.Mu are held.
func (k *Kernel) NewMountNSLocked(fs *FSContext) error {
	ns := k.LastMntNS + 1
	if ns > mount.MaxNamespace {
		return unix.ENOSPC // Linux: past user.max_mnt_namespaces
	}
	copies, orig, err := k.VFS.Mounts.CopyNS(fs.MntNS, ns)
	if err != nil {
		return err
	}
	k.LastMntNS = ns
	k.VFS.CopyGrafts(copies, orig)
	k.Namespaced.Store(true) // before a walk can see the namespace
	fs.MntNS = ns
	for _, m := range copies {
		k.Trk.Changed(MountID(m.ID))
	}
	return nil
}

// ReapMountNS takes out the mounts of the namespaces no fs context is in
// any more (Linux frees a namespace with its last process): their
// Grafts go, and a tmpfs's directory with the last mount of its files.
// Called by the calls that hold MntMu (mount, umount2, unshare, clone),
// so at most the namespaces left since the last of them wait.
// Precondition: k.VFS.MntMu is held, k.Mu is not.
func (k *Kernel) ReapMountNS() {
	if !k.Namespaced.Load() {
		return
	}
	v := k.VFS
	live := make(map[uint64]bool)
	k.Mu.Lock()
	for _, p := range k.Procs {
		if p.FS != nil && p.FS.Refs > 0 { // an exited process's has none
			live[p.FS.MntNS] = true
		}
	}
	for _, fs := range k.restoreFSs {
		live[fs.MntNS] = true
	}
	k.Mu.Unlock()
	for ns := range v.Mounts.Namespaces() {
		if ns == 0 || live[ns] {
			continue
		}
		for _, m := range v.Mounts.RemoveNS(ns) {
			if g := v.GraftedByID(m.ID); g != nil {
				v.Ungraft(g, false)
			}
			k.Trk.Changed(MountID(m.ID))
		}
	}
}

// MountNSOf returns the mount namespace of process pid (0 when it is
// gone or has no fs context). It takes k.Mu.
func (k *Kernel) MountNSOf(pid int32) uint64 {
	if !k.Namespaced.Load() {
		return 0
	}
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if p := k.Procs[pid]; p != nil && p.FS != nil {
		return p.FS.MntNS
	}
	return 0
}
