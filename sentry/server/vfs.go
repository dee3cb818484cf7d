package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The client's mount namespace is package vfs's: the dentries and the
// walk, the handle pins, the attribute, listing and negative caches, the
// grafted mounts, /dev/shm and the gofer file kinds. The kernel gives it
// what it needs of the kernel (vfs.Kernel: the synthesized /dev and /proc,
// forwarded to package fsimpl/synth in vfs_synth.go, the owner of the
// descriptions, a set-id file's write), and each system call is its
// vfs.Caller
// (the handles it pins, its search permission). What stays here is the
// kernel's side: the pins' release with the call, a mount's users, and
// the mounts of a Restore.

type dentry = vfs.Dentry

var _ vfs.Kernel = (*kernelPorts)(nil)

// KillPriv is vfs.Kernel's: killPriv for the kernel's call c.
func (kp *kernelPorts) KillPriv(c fdesc.Call, d *dentry, h uint64, a auth.FileAttrs) {
	killPriv(kernel.TaskFromCall(c), d, h, a)
}

// mountBusy says a file of mount id is in use: open, a working
// directory, or mapped.
func mountBusy(k *clientState, id int) bool {
	var ds []*dentry
	k.Mu.Lock()
	seen := make(map[*fdTable]bool)
	for _, p := range k.Procs {
		if p.FS != nil {
			ds = append(ds, p.FS.Cwd)
		}
		t := p.FDs
		if t == nil || seen[t] {
			continue
		}
		seen[t] = true
		t.Each(func(_ int32, e fdEntry) { ds = append(ds, vfs.DentryOf(e.File)) })
	}
	k.Mu.Unlock()
	for _, f := range k.Maps.Files() {
		if f != nil {
			ds = append(ds, vfs.DentryOf(f))
		}
	}
	return k.VFS.MountHolds(id, ds)
}
