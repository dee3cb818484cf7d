package server

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
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
// the mounts of a Start and a Restore.

type dentry = vfs.Dentry

var _ vfs.Kernel = (*kernelPorts)(nil)

// KillPriv is vfs.Kernel's: killPriv for the kernel's call c.
func (kp *kernelPorts) KillPriv(c fdesc.Call, d *dentry, h uint64, a auth.FileAttrs) {
	killPriv(callOf(c), d, h, a)
}

// unpinAll drops the pins c's handler took. c may be nil.
func unpinAll(c *syscallCtx) {
	if c == nil {
		return
	}
	for _, d := range c.Pinned {
		c.Kernel.VFS.Unpin(d)
	}
	c.Pinned = nil
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
		t.Each(func(_ int32, e fdEntry) { ds = append(ds, dentryOf(e.File)) })
	}
	k.Mu.Unlock()
	for _, f := range k.Maps.Files() {
		if f != nil {
			ds = append(ds, dentryOf(f))
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
						k.Trk.Changed(mountID(m.ID))
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
				k.Trk.Changed(mountID(m.ID))
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

// maxStartMounts bounds the mounts a Start may list.
const maxStartMounts = 64

// startMounts checks the mounts a Start lists (made outside the sentry:
// the gofer serves them, the table only lists them; but /dev/mqueue,
// which the sentry serves: isMqueueMount).
func startMounts(specs []*sentrypb.MountSpec) ([]mount.Mount, error) {
	if len(specs) > maxStartMounts {
		return nil, fmt.Errorf("start: %d mounts (at most %d): %w", len(specs), maxStartMounts, unix.EINVAL)
	}
	var out []mount.Mount
	for i, sp := range specs {
		bad := func(why string) error {
			return fmt.Errorf("start: mounts[%d] (%q): %s: %w", i, sp.GetTarget(), why, unix.EINVAL)
		}
		if sp == nil || !path.IsAbs(sp.Target) || len(sp.Target) >= 4096 || len(sp.Source) >= 4096 || len(sp.Data) > mountDataMax {
			return nil, bad("want an absolute target")
		}
		if sp.Fstype == "" || len(sp.Fstype) > 64 || strings.ContainsAny(sp.Fstype, " \t\n/") {
			return nil, bad("bad type")
		}
		if sp.Flags&^mount.PerMountFlags != 0 {
			return nil, bad("bad flags")
		}
		m := mount.Mount{FSType: sp.Fstype, Source: sp.Source, Target: path.Clean(sp.Target), Flags: sp.Flags, Data: sp.Data,
			SuperReadOnly: sp.Flags&unix.MS_RDONLY != 0 && sp.Fstype != "bind"}
		if m.Flags&(unix.MS_NOATIME|unix.MS_STRICTATIME) == 0 {
			m.Flags |= unix.MS_RELATIME
		}
		m.Flags &^= unix.MS_STRICTATIME
		if m.Source == "" {
			m.Source = sp.Fstype
		}
		if sp.Fstype == "bind" && path.IsAbs(sp.Source) {
			// mountinfo's root: the bound directory's path (in the
			// host's file system, as the gofer mounted it).
			m.Root = path.Clean(sp.Source)
		}
		if sp.Fstype == "tmpfs" {
			o, err := mount.ParseTmpfsOptions(sp.Data, 0)
			if err != nil {
				return nil, bad(err.Error())
			}
			m.Tmpfs, m.FSOptions = o, o.String()
		}
		out = append(out, m)
	}
	return out, nil
}
