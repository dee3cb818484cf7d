package server

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
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

// restoreMounts puts a Restore's mounts back in the table, parents first,
// and grafts the sentry's tmpfs mounts again over their mount points
// (their gofer directories are found by name). It returns what could not
// be rebuilt.
func restoreMounts(k *clientState, rc *syscallCtx, recs []*sentrypb.MountState) []error {
	v := k.VFS
	sort.Slice(recs, func(i, j int) bool { return recs[i].Id < recs[j].Id })
	v.MntMu.Lock()
	defer v.MntMu.Unlock()
	var errs []error
	for _, st := range recs {
		if mount.IsFixed(int(st.GetId())) {
			if err := v.Mounts.RestoreFixedPropagation(st); err != nil {
				errs = append(errs, fmt.Errorf("mount %d: %w", st.GetId(), err))
			}
			continue
		}
		m, err := mount.FromRecord(st, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("mount %d: %w", st.Id, err))
			continue
		}
		if m.BindPath != "" {
			if rc == nil {
				errs = append(errs, fmt.Errorf("mount %d at %q: no process to resolve it", m.ID, m.Target))
				continue
			}
			src, err := v.Resolve(rc, v.Root, m.BindPath, true)
			var point *dentry
			if err == nil {
				point, err = v.Resolve(rc, v.Root, m.Target, true)
			}
			if err == nil {
				if m, err = v.Mounts.Add(m); err == nil {
					if _, err = v.GraftBind(point, src, m); err != nil {
						v.Mounts.Remove(m.ID, true)
						k.Trk.Changed(kernel.MountID(m.ID))
					}
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("bind mount %d of %q at %q: %w", st.Id, st.BindPath, st.Target, err))
			}
			continue
		}
		if m.Backed {
			if rc == nil {
				errs = append(errs, fmt.Errorf("mount %d at %q: no process to resolve it", m.ID, m.Target))
				continue
			}
			point, err := v.Resolve(rc, v.Root, m.Target, true)
			if err == nil && (point == v.Root || point.Kind != vfs.KindGofer || !point.IsDir()) {
				err = unix.EINVAL
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("mount %d at %q: %w", m.ID, m.Target, err))
				continue
			}
			if m, err = v.Mounts.Add(m); err != nil {
				errs = append(errs, fmt.Errorf("mount %d at %q: %w", st.Id, st.Target, err))
				continue
			}
			if _, err := v.GraftTmpfs(point, m, false); err != nil {
				v.Mounts.Remove(m.ID, true)
				k.Trk.Changed(kernel.MountID(m.ID))
				errs = append(errs, fmt.Errorf("tmpfs %d at %q: %w", m.ID, m.Target, err))
			}
			continue
		}
		if _, err := v.Mounts.Add(m); err != nil {
			errs = append(errs, fmt.Errorf("mount %d at %q: %w", m.ID, m.Target, err))
		} else if vfs.IsMqueueMount(m) {
			v.SetMqueue(m.ID)
		}
	}
	return errs
}
