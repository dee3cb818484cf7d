package vfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// Mounts the sentry makes (mount(2) of a tmpfs) are grafted onto the
// dentry tree: the mount's root is a gofer dentry of a per-client
// directory of the gofer ("rd-tmpfs-<hash of the client id>-<mount id>",
// beside /dev/shm's), with the mount point's parent and name, and the
// lookup of the mount point's name returns it (vfs.covers). So ".."
// leads back out, paths print as in the namespace, and the files are
// ordinary gofer files that survive a server restart (the directory's
// name follows the client id and the mount id, both of which a Restore
// carries). The mount table (package mount) says what /proc shows;
// mounts made outside the sentry (do --volume, an OCI bundle's) are only
// listed there: the gofer serves them as part of its tree.

// Graft is a mount grafted onto the dentry tree.
type Graft struct {
	// id is the mount's id in the table; root its root dentry, point the
	// dentry it covers; backing the name of its gofer directory and
	// backingParent the handle (owned) of the directory holding it.
	// Immutable.
	ID            int
	root, point   *Dentry
	backing       string
	backingParent uint64
	// keep are the handles (owned) of the directories between the root
	// and backingParent: a restarted gofer finds backingParent again by
	// its name in them when its file handle cannot be reopened (another
	// file system than the root's, such as /dev/shm's tmpfs).
	keep []uint64
	// src is a bind mount's source (its root is another dentry of the
	// same file); nil for a tmpfs. Immutable.
	Src *Dentry
	// NS is the mount namespace the mount is in. A namespace's copy of a
	// mount is a Graft of its own with the same root, point, backing and
	// handles (CopyGrafts): the handles are released, and a tmpfs's
	// directory removed, with the last Graft of the root (Ungraft).
	// Immutable.
	NS uint64
}

// NamespacedCaller is a Caller whose process may be in a mount namespace
// other than the sandbox's first (unshare, clone with CLONE_NEWNS): its
// walks cross the mounts of its namespace only.
type NamespacedCaller interface {
	// MountNS returns the caller's mount namespace (0: the first).
	MountNS() uint64
}

// NSOf returns c's mount namespace (0 for a Caller of none).
func NSOf(c Caller) uint64 {
	if nc, ok := c.(NamespacedCaller); ok {
		return nc.MountNS()
	}
	return 0
}

// graftIn returns the Graft of gs in namespace ns, or nil.
func graftIn(gs []*Graft, ns uint64) *Graft {
	for _, g := range gs {
		if g.NS == ns {
			return g
		}
	}
	return nil
}

// without returns gs without g.
func without(gs []*Graft, g *Graft) []*Graft {
	out := gs[:0:0]
	for _, o := range gs {
		if o != g {
			out = append(out, o)
		}
	}
	return out
}

// tmpfsDirName is the gofer directory holding mount id's files.
func tmpfsDirName(clientID string, id int) string {
	sum := sha256.Sum256([]byte(clientID))
	return "rd-tmpfs-" + hex.EncodeToString(sum[:8]) + "-" + strconv.Itoa(id)
}

// crossMounts returns the root of the mount of namespace ns on top of d,
// or d.
func (v *VFS) crossMounts(ns uint64, d *Dentry) *Dentry {
	if v.nmounts.Load() == 0 {
		return d
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for range mount.MaxMounts {
		m := graftIn(v.covers[d], ns)
		if m == nil {
			break
		}
		d = m.root
	}
	return d
}

// mountOfLocked returns the grafted mount of namespace ns holding d, nil
// for the gofer's root file system and the synthesized ones.
// Precondition: v.mu.
func (v *VFS) mountOfLocked(ns uint64, d *Dentry) *Graft {
	for n := 0; d != nil && d != v.Root && n < 4096; n++ {
		if m := graftIn(v.roots[d], ns); m != nil {
			return m
		}
		d = d.parent
	}
	return nil
}

// MountHolds says one of ds (gofer dentries; others are skipped) is in
// grafted mount id, as the mount's namespace sees them.
func (v *VFS) MountHolds(id int, ds []*Dentry) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.graftByIDLocked(id)
	if g == nil {
		return false
	}
	for _, d := range ds {
		if d == nil || d.Kind != KindGofer {
			continue
		}
		if m := v.mountOfLocked(g.NS, d); m != nil && m.ID == id {
			return true
		}
	}
	return false
}

// MountOf returns the id of the mount of namespace ns holding gofer
// dentry d (the namespace's root's for the gofer's tree).
func (v *VFS) MountOf(ns uint64, d *Dentry) int {
	if v.nmounts.Load() != 0 {
		v.mu.Lock()
		m := v.mountOfLocked(ns, d)
		v.mu.Unlock()
		if m != nil {
			return m.ID
		}
	}
	if ns == 0 {
		return mount.RootID
	}
	return v.Mounts.FixedID(ns, mount.RootID)
}

// MountInfoOf returns the mount of namespace ns holding d (a gofer
// dentry), and whether it is a grafted one.
func (v *VFS) MountInfoOf(ns uint64, d *Dentry) (mount.Mount, bool) {
	id := v.MountOf(ns, d)
	m, _ := v.Mounts.Get(id)
	return m, m.FixedKind() != mount.RootID
}

// FileDev returns the device number of gofer dentry d's file when it is
// in a grafted mount's files (a tmpfs's own device): the mount's, of
// whichever namespace, as a namespace's copies share their original's
// files and device (st_dev is the file's, not the walk's).
func (v *VFS) FileDev(d *Dentry) (uint64, bool) {
	if d == nil || d.Kind != KindGofer || v.nmounts.Load() == 0 {
		return 0, false
	}
	id := 0
	v.mu.Lock()
	for n := 0; d != nil && d != v.Root && n < 4096; n++ {
		if gs := v.roots[d]; len(gs) > 0 {
			id = gs[0].ID
			break
		}
		d = d.parent
	}
	v.mu.Unlock()
	if id == 0 {
		return 0, false
	}
	m, ok := v.Mounts.Get(id)
	return m.Dev, ok && m.Dev != 0
}

// ReadOnly says d is on a read-only grafted mount of namespace ns.
func (v *VFS) ReadOnly(ns uint64, d *Dentry) bool {
	if d == nil || d.Kind != KindGofer || v.nmounts.Load() == 0 {
		return false
	}
	m, grafted := v.MountInfoOf(ns, d)
	return grafted && m.ReadOnly()
}

// MountRoot returns a mount, of any namespace, whose root d is, or nil
// (its files: the root and the backing are the same in every namespace).
func (v *VFS) MountRoot(d *Dentry) *Graft {
	if v.nmounts.Load() == 0 {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if gs := v.roots[d]; len(gs) > 0 {
		return gs[0]
	}
	return nil
}

// MountRootIn returns the mount of namespace ns whose root d is, or nil.
func (v *VFS) MountRootIn(ns uint64, d *Dentry) *Graft {
	if v.nmounts.Load() == 0 {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return graftIn(v.roots[d], ns)
}

// addGraftLocked puts vm on the tree. Precondition: v.mu.
func (v *VFS) addGraftLocked(vm *Graft) {
	if v.covers == nil {
		v.covers, v.roots = make(map[*Dentry][]*Graft), make(map[*Dentry][]*Graft)
	}
	v.covers[vm.point] = append(v.covers[vm.point], vm)
	v.roots[vm.root] = append(v.roots[vm.root], vm)
	v.nmounts.Add(1)
}

// CopyGrafts grafts, for each of copies (a new namespace's copies of
// mounts: mount.Table.CopyNS), a copy of the Graft of its original
// (orig[copy's id]), over the same point with the same root.
// Precondition: v.MntMu.
func (v *VFS) CopyGrafts(copies []mount.Mount, orig map[int]int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var byID map[int]*Graft
	for _, c := range copies {
		if byID == nil {
			byID = make(map[int]*Graft)
			for _, gs := range v.roots {
				for _, g := range gs {
					byID[g.ID] = g
				}
			}
		}
		g := byID[orig[c.ID]]
		if g == nil {
			continue
		}
		ng := *g
		ng.ID, ng.NS = c.ID, c.NS
		v.addGraftLocked(&ng)
	}
}

// sharedLocked says a Graft other than vm, live or detached, has vm's
// root (and so its handles and directory). Precondition: v.mu.
func (v *VFS) sharedLocked(vm *Graft) bool {
	for _, o := range v.roots[vm.root] {
		if o != vm {
			return true
		}
	}
	for _, o := range v.detached {
		if o != vm && o.root == vm.root {
			return true
		}
	}
	return false
}

// scratchParent returns a new handle of the gofer directory that holds
// the per-client directories (the root's /dev/shm, else its /tmp), and
// the handles of the directories walked through to it, which the caller
// keeps as long as it uses the first (see Graft.keep).
func (v *VFS) scratchParent() (uint64, []uint64, error) {
	rh, err := v.PinHandle(v.Root)
	if err != nil {
		return 0, nil, err
	}
	defer v.Unpin(v.Root)
	err = unix.ENOENT
	for _, path := range [][]string{{"dev", "shm"}, {"tmp"}} {
		var keep []uint64
		h := rh
		var wf *goferpb.WalkedFile
		for _, name := range path {
			if wf, err = v.walkOne(h, name); err != nil {
				break
			}
			h = wf.Handle.Id
			keep = append(keep, h)
		}
		if err == nil && wf.Stat.Mode&unix.S_IFMT == unix.S_IFDIR {
			return h, keep[:len(keep)-1], nil
		}
		v.releases.Release(keep)
		if err == nil {
			err = unix.ENOTDIR
		}
	}
	return 0, nil, fmt.Errorf("no directory for tmpfs mounts: %w", err)
}

// scratchDir walks to directory name under the scratch parent ph, first
// making it as mk asks (nil: it must exist; EEXIST is no error). The
// caller owns the walked handle.
func (v *VFS) scratchDir(ph uint64, name string, mk *goferpb.MkdirRequest) (*goferpb.WalkedFile, error) {
	if mk != nil {
		req := &goferpb.MkdirRequest{Dir: ph, Name: []byte(name), Mode: mk.Mode, Uid: mk.Uid, Gid: mk.Gid}
		ctx, cancel := v.RPCCtx()
		r, err := v.gofer.Mkdir(ctx, req)
		cancel()
		if err := syserr.FromGofer("mkdir "+name, r.GetErrno(), err); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, err
		}
		if r.GetHandle() != nil {
			v.releases.Release([]uint64{r.Handle.Id})
		}
	}
	wf, err := v.walkOne(ph, name)
	if err != nil {
		return nil, err
	}
	if wf.Stat.Mode&unix.S_IFMT != unix.S_IFDIR {
		v.releases.Release([]uint64{wf.Handle.Id})
		return nil, fmt.Errorf("%q: %w", name, unix.ENOTDIR)
	}
	return wf, nil
}

// GraftTmpfs makes (create) or finds the gofer directory of tmpfs mount m
// and grafts it over point. Precondition: v.MntMu.
func (v *VFS) GraftTmpfs(point *Dentry, m mount.Mount, create bool) (*Graft, error) {
	if m.SB != 0 {
		if vm := v.shareTmpfs(point, m); vm != nil {
			return vm, nil
		}
	}
	ph, keep, err := v.scratchParent()
	if err != nil {
		return nil, err
	}
	fail := func(err error, hs ...uint64) (*Graft, error) {
		v.releases.Release(append(append(hs, ph), keep...))
		return nil, err
	}
	name := tmpfsDirName(v.clientID, m.Backing())
	var mk *goferpb.MkdirRequest
	if create {
		mk = &goferpb.MkdirRequest{Mode: m.Tmpfs.Mode, Uid: m.Tmpfs.UID, Gid: m.Tmpfs.GID}
	}
	wf, err := v.scratchDir(ph, name, mk)
	if err != nil {
		return fail(err)
	}
	st := wf.Stat
	v.mu.Lock()
	parent, pname := point.parent, point.name
	v.mu.Unlock()
	root := &Dentry{v: v, Kind: KindGofer, Mode: st.Mode, ino: st.Ino, dev: st.Dev, handle: wf.Handle.Id, fh: wf.Handle.FileHandle,
		parent: parent, name: pname, perm: st.Mode & 07777, uid: st.Uid, gid: st.Gid}
	v.NoteAttrs(root, st)
	vm := &Graft{ID: m.ID, root: root, point: point, backing: name, backingParent: ph, keep: keep, NS: m.NS}
	v.mu.Lock()
	v.addGraftLocked(vm)
	v.mu.Unlock()
	return vm, nil
}

// shareTmpfs grafts m, another namespace's mount of the files of mount
// m.SB (a restore's), with the root of a Graft of those files over the
// same point, if there is one.
func (v *VFS) shareTmpfs(point *Dentry, m mount.Mount) *Graft {
	name := tmpfsDirName(v.clientID, m.SB)
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, gs := range v.roots {
		for _, g := range gs {
			if g.backing == name && g.point == point {
				ng := *g
				ng.ID, ng.NS = m.ID, m.NS
				v.addGraftLocked(&ng)
				return &ng
			}
		}
	}
	return nil
}

// Ungraft takes vm off the tree, and removes its directory unless keep
// (a lazily detached mount still in use: its root keeps its handle, so
// that a working directory or an open directory in it still works, and
// its directory goes with the client).
func (v *VFS) Ungraft(vm *Graft, keep bool) {
	v.mu.Lock()
	if v.covers[vm.point] = without(v.covers[vm.point], vm); len(v.covers[vm.point]) == 0 {
		delete(v.covers, vm.point)
	}
	if v.roots[vm.root] = without(v.roots[vm.root], vm); len(v.roots[vm.root]) == 0 {
		delete(v.roots, vm.root)
	}
	v.nmounts.Add(-1)
	if keep {
		v.detached = append(v.detached, vm)
		v.mu.Unlock()
		return
	}
	if v.sharedLocked(vm) {
		// Another namespace's mount of the same files keeps them.
		v.mu.Unlock()
		return
	}
	h := vm.root.handle
	vm.root.handle = 0
	vm.root.deleted = true
	v.mu.Unlock()
	if vm.Src != nil {
		v.releases.Release([]uint64{h})
		return
	}
	v.removeBacking(vm, h)
}

// removeBacking removes vm's gofer directory (whose handle h the caller
// gives up) and releases its parent's handle.
func (v *VFS) removeBacking(vm *Graft, h uint64) {
	if h == 0 {
		if wf, err := v.walkOne(vm.backingParent, vm.backing); err == nil {
			h = wf.Handle.Id
		}
	}
	if h != 0 {
		v.removeTree(h, 0)
		v.releases.ReleaseNow([]uint64{h})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r, err := v.gofer.Unlink(ctx, &goferpb.UnlinkRequest{Dir: vm.backingParent, Name: []byte(vm.backing), Flags: unix.AT_REMOVEDIR})
	cancel()
	if err := syserr.FromGofer("rmdir "+vm.backing, r.GetErrno(), err); err != nil {
		v.log.Warn("removing a tmpfs mount's directory failed", "name", vm.backing, "err", err)
	}
	v.releases.ReleaseNow(append([]uint64{vm.backingParent}, vm.keep...))
}

// RemoveMounts removes every grafted mount's directory (client
// teardown: the application is over).
func (v *VFS) RemoveMounts() {
	v.MntMu.Lock()
	defer v.MntMu.Unlock()
	v.mu.Lock()
	var all []*Graft
	for _, gs := range v.roots {
		all = append(all, gs...)
	}
	all = append(all, v.detached...)
	v.detached = nil
	v.mu.Unlock()
	done := make(map[*Dentry]bool)
	for _, vm := range all {
		v.mu.Lock()
		live := graftIn(v.roots[vm.root], vm.NS) == vm
		v.mu.Unlock()
		if live {
			v.Ungraft(vm, false)
			continue
		}
		if done[vm.root] {
			continue // the namespaces' copies share one root
		}
		done[vm.root] = true
		v.mu.Lock()
		h := vm.root.handle
		vm.root.handle = 0
		v.mu.Unlock()
		if vm.Src != nil {
			v.releases.ReleaseNow([]uint64{h})
			continue
		}
		v.removeBacking(vm, h)
	}
}

// GraftBind grafts a new dentry of src's file over point (a bind mount).
// Precondition: v.MntMu.
func (v *VFS) GraftBind(point, src *Dentry, m mount.Mount) (*Graft, error) {
	if src.Kind != KindGofer || point.Kind != KindGofer || point == v.Root || src.IsDir() != point.IsDir() {
		return nil, unix.EINVAL
	}
	h, st, fh, err := v.FreshHandle(src)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	parent, pname := point.parent, point.name
	v.mu.Unlock()
	root := &Dentry{v: v, Kind: KindGofer, Mode: st.Mode, ino: st.Ino, dev: st.Dev, handle: h, fh: fh,
		parent: parent, name: pname, perm: st.Mode & 07777, uid: st.Uid, gid: st.Gid}
	v.NoteAttrs(root, st)
	vm := &Graft{ID: m.ID, root: root, point: point, Src: src, NS: m.NS}
	v.mu.Lock()
	v.addGraftLocked(vm)
	v.mu.Unlock()
	return vm, nil
}

// BindSources says a bind mount's source is in mount id (which then
// cannot go: its files are the bind mount's).
func (v *VFS) BindSources(id int) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, gs := range v.roots {
		for _, vm := range gs {
			if vm.Src != nil && vm.ID != id {
				if m := v.mountOfLocked(vm.NS, vm.Src); m != nil && m.ID == id {
					return true
				}
			}
		}
	}
	return false
}

// IsMqueueMount says m is the mqueue file system at /dev/mqueue, which
// the sentry serves as a directory of its /dev showing the client's POSIX
// message queues (package synth lists and finds them, the syscalls
// create and remove them as mq_open and mq_unlink).
func IsMqueueMount(m mount.Mount) bool {
	return m.FSType == "mqueue" && m.Target == "/dev/mqueue"
}

// SetMqueue makes /dev/mqueue's dentry (of mount id, the first) exist
// once a namespace mounted the mqueue file system there; which
// namespaces show it the mount table says (MqueueDentry).
func (v *VFS) SetMqueue(id int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if id == 0 || v.mqueue != nil {
		return
	}
	v.mqueue = &Dentry{v: v, Kind: KindMqueueDir, Mode: unix.S_IFDIR | 01777, ino: SynthIno(6, id), parent: v.DevDir, name: "mqueue"}
}

// MqueueDentry returns /dev/mqueue's dentry when namespace ns has the
// mqueue file system mounted there, or nil.
func (v *VFS) MqueueDentry(ns uint64) *Dentry {
	v.mu.Lock()
	d := v.mqueue
	v.mu.Unlock()
	if d == nil {
		return nil
	}
	for _, m := range v.Mounts.ListNS(ns) {
		if IsMqueueMount(m) {
			return d
		}
	}
	return nil
}

// MountIDAt returns the id of the mount of namespace ns whose root is d.
func (v *VFS) MountIDAt(ns uint64, d *Dentry) (int, bool) {
	kind := 0
	switch d {
	case v.Root:
		kind = mount.RootID
	case v.ProcDir:
		kind = mount.ProcID
	case v.DevDir:
		kind = mount.DevID
	}
	if kind != 0 {
		id := v.Mounts.FixedID(ns, kind)
		return id, id != 0
	}
	if vm := v.MountRootIn(ns, d); vm != nil {
		return vm.ID, true
	}
	if d.Kind == KindMqueueDir {
		for _, m := range v.Mounts.ListNS(ns) {
			if IsMqueueMount(m) {
				return m.ID, true
			}
		}
	}
	return 0, false
}

// PropagateUmount takes out, as Linux's propagate_umount does, the
// copies of umounted mount m that its parent's receivers hold at the same
// place when nothing is mounted on or under them, and returns them.
// Precondition: v.MntMu.
func (v *VFS) PropagateUmount(m mount.Mount) []mount.Mount {
	parent, ok := v.Mounts.Get(m.ParentID)
	if !ok || parent.Shared == 0 {
		return nil
	}
	var gone []mount.Mount
	for _, r := range v.Mounts.Receivers(parent.ID) {
		at, ok := mount.PathIn(parent, r, m.Target)
		if !ok {
			continue
		}
		for _, c := range v.Mounts.List() {
			if c.ParentID == r.ID && c.Target == at && c.ID != m.ID {
				if g, err := v.Mounts.Remove(c.ID, false); err == nil {
					gone = append(gone, g...)
				}
			}
		}
	}
	return gone
}

// GraftedByID returns grafted mount id, or nil.
func (v *VFS) GraftedByID(id int) *Graft {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.graftByIDLocked(id)
}

// graftByIDLocked returns grafted mount id, or nil. Precondition: v.mu.
func (v *VFS) graftByIDLocked(id int) *Graft {
	for _, gs := range v.roots {
		for _, vm := range gs {
			if vm.ID == id {
				return vm
			}
		}
	}
	return nil
}
