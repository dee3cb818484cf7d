package syscalls

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// blockFS are file systems that need a block device, which the sandbox
// has none of: mount(2) of one is EPERM, as in runsc; other types it
// does not serve are ENODEV.
var blockFS = map[string]bool{
	"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "vfat": true, "msdos": true,
	"exfat": true, "ntfs": true, "ntfs3": true, "iso9660": true, "udf": true, "f2fs": true, "jfs": true,
	"reiserfs": true, "squashfs": true, "erofs": true, "minix": true, "hfs": true, "hfsplus": true,
}

// mountFlagsIgnored are mount(2) flags that change nothing here: MS_SILENT,
// the
// superblock's sync/mand/lazytime flags, and MS_KERNMOUNT-like internals.
const mountFlagsIgnored = unix.MS_SILENT | unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC |
	unix.MS_MANDLOCK | unix.MS_LAZYTIME | unix.MS_I_VERSION

// Mount implements mount(2): a tmpfs at a directory, remounting a
// mount the sentry made with other flags or options, bind mounts, and
// propagation changes.
func Mount(c *kernel.Task) (int64, error) {
	if !c.ProcessCreds().Capable(linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	var source, fstype, data string
	var err error
	if c.Args[0] != 0 {
		if source, err = c.Mem.CopyInString(c.Args[0], sysabi.PathMax); err != nil {
			return 0, err
		}
	}
	target, err := PathArg(c, 1)
	if err != nil {
		return 0, err
	}
	if c.Args[2] != 0 {
		if fstype, err = c.Mem.CopyInString(c.Args[2], 256); err != nil {
			return 0, err
		}
	}
	if c.Args[4] != 0 {
		if data, err = c.Mem.CopyInString(c.Args[4], mount.DataMax); err != nil {
			return 0, err
		}
	}
	flags := c.Args[3]
	if flags&linux.MS_MGC_MSK == linux.MS_MGC_VAL {
		flags &^= linux.MS_MGC_MSK
	}
	flags &^= mountFlagsIgnored
	rec := flags&unix.MS_REC != 0
	flags &^= unix.MS_REC
	v := c.Kernel.VFS
	ns := c.MountNS()
	point, err := v.Resolve(c, c.Cwd(), target, true)
	if err != nil {
		return 0, err
	}
	v.MntMu.Lock()
	defer v.MntMu.Unlock()
	c.Kernel.ReapMountNS()
	switch {
	case flags&unix.MS_REMOUNT != 0:
		return 0, remount(c, point, flags, data)
	case flags&unix.MS_BIND != 0:
		return 0, bindMount(c, source, point)
	case flags&unix.MS_MOVE != 0:
		c.Kernel.LogUnsupportedOnce("mount(MS_MOVE)")
		return 0, fmt.Errorf("moving mounts: %w", unix.EINVAL)
	case flags&mount.PropagationFlags != 0:
		// Exactly one propagation type, with only MS_REC and MS_SILENT
		// beside it (Linux's flags_to_propagation_type).
		pt := flags & mount.PropagationFlags
		if pt&(pt-1) != 0 || flags&^mount.PropagationFlags != 0 {
			return 0, unix.EINVAL
		}
		id, ok := v.MountIDAt(ns, point)
		if !ok {
			return 0, unix.EINVAL
		}
		ids, err := v.Mounts.SetPropagation(id, pt, rec)
		for _, id := range ids {
			c.Kernel.Trk.Changed(kernel.MountID(id))
		}
		return 0, err
	}
	if flags&^mount.PerMountFlags != 0 {
		return 0, fmt.Errorf("mount flags %#x: %w", flags&^mount.PerMountFlags, unix.EINVAL)
	}
	switch {
	case fstype == "tmpfs":
	case blockFS[fstype]:
		return 0, fmt.Errorf("%s needs a block device: %w", fstype, unix.EPERM)
	default:
		return 0, fmt.Errorf("file system type %q: %w", fstype, unix.ENODEV)
	}
	if !point.IsDir() {
		return 0, unix.ENOTDIR
	}
	if point == v.Root || point.Kind != vfs.KindGofer {
		// Over the root or a synthesized directory (/dev, /proc).
		return 0, fmt.Errorf("mount over %q: %w", target, unix.EINVAL)
	}
	ram, err := ramFor(c, data)
	if err != nil {
		return 0, err
	}
	o, err := mount.ParseTmpfsOptions(data, ram)
	if err != nil {
		return 0, err
	}
	if o.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if flags&(unix.MS_NOATIME|unix.MS_STRICTATIME) == 0 {
		flags |= unix.MS_RELATIME // Linux's default for a new mount
	}
	flags &^= unix.MS_STRICTATIME
	p, ok := v.PathOf(point)
	if !ok {
		return 0, unix.ENOENT
	}
	if source == "" {
		source = "none"
	}
	// The record keeps the options as parsed (a size=N% is of this
	// machine, now).
	m, err := v.Mounts.Add(mount.Mount{FSType: fstype, Source: source, Target: p, Flags: flags, Data: strings.TrimPrefix(o.String(), ","),
		FSOptions: o.String(), Backed: true, Tmpfs: o, SuperReadOnly: flags&unix.MS_RDONLY != 0, NS: ns})
	if err != nil {
		return 0, err
	}
	dev := uint64(unix.Mkdev(0, uint32(0x100+m.ID)))
	m.Dev = dev
	if _, err := v.GraftTmpfs(point, m, true); err != nil {
		v.Mounts.Remove(m.ID, true)
		return 0, err
	}
	v.Mounts.SetDev(m.ID, dev)
	c.Kernel.Trk.Changed(kernel.MountID(m.ID))
	return 0, nil
}

// remount changes the flags (and, without MS_BIND, the options) of the
// mount whose root is point: one the sentry made.
func remount(c *kernel.Task, point *vfs.Dentry, flags uint64, data string) error {
	v := c.Kernel.VFS
	vm := v.MountRootIn(c.MountNS(), point)
	if vm == nil {
		return fmt.Errorf("remount of a mount the sentry did not make: %w", unix.EINVAL)
	}
	m, ok := v.Mounts.Get(vm.ID)
	if !ok {
		return unix.EINVAL
	}
	flags &^= unix.MS_REMOUNT
	var newData *string
	fsopts := m.FSOptions
	if flags&unix.MS_BIND == 0 && m.FSType == "tmpfs" {
		ram, err := ramFor(c, data)
		if err != nil {
			return err
		}
		o, err := mount.ParseTmpfsOptions(data, ram)
		if err != nil {
			return err
		}
		if o.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		// Options not given keep their value (shmem_reconfigure).
		if !o.HasSize {
			o.Size, o.HasSize = m.Tmpfs.Size, m.Tmpfs.HasSize
		}
		if !o.HasNrInodes {
			o.NrInodes, o.HasNrInodes = m.Tmpfs.NrInodes, m.Tmpfs.HasNrInodes
		}
		if !strings.Contains(data, "mode=") {
			o.Mode = m.Tmpfs.Mode
		}
		if !strings.Contains(data, "uid=") {
			o.UID = m.Tmpfs.UID
		}
		if !strings.Contains(data, "gid=") {
			o.GID = m.Tmpfs.GID
		}
		merged := strings.TrimPrefix(o.String(), ",")
		newData, fsopts = &merged, o.String()
	}
	flags &^= unix.MS_BIND
	if flags&^mount.PerMountFlags != 0 {
		return unix.EINVAL
	}
	if flags&(unix.MS_NOATIME|unix.MS_STRICTATIME) == 0 && flags&unix.MS_RELATIME == 0 {
		flags |= m.Flags & (unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_NODIRATIME)
	}
	flags &^= unix.MS_STRICTATIME
	if err := v.Mounts.SetFlags(vm.ID, flags, newData, fsopts, flags&unix.MS_RDONLY != 0); err != nil {
		return err
	}
	if newData != nil {
		o, _ := mount.ParseTmpfsOptions(*newData, 0)
		v.Mounts.SetTmpfs(vm.ID, o)
	}
	c.Kernel.Trk.Changed(kernel.MountID(vm.ID))
	return nil
}

// bindMount mounts the file at path source over point (MS_BIND): a new
// mount of the same files, with the flags of the mount source is in. Its
// submounts are not brought along (MS_REC changes nothing).
func bindMount(c *kernel.Task, source string, point *vfs.Dentry) error {
	v := c.Kernel.VFS
	if source == "" {
		return unix.EFAULT
	}
	src, err := v.Resolve(c, c.Cwd(), source, true)
	if err != nil {
		return err
	}
	if src.Kind != vfs.KindGofer || point.Kind != vfs.KindGofer || point == v.Root {
		return fmt.Errorf("bind mount of %q: not a file of the gofer's tree: %w", source, unix.EINVAL)
	}
	if src.IsDir() != point.IsDir() {
		if point.IsDir() {
			return unix.ENOTDIR
		}
		return unix.EISDIR
	}
	from, _ := v.MountInfoOf(c.MountNS(), src)
	if from.Unbindable {
		return fmt.Errorf("bind mount of %q: its mount is unbindable: %w", source, unix.EINVAL)
	}
	srcPath, ok := v.PathOf(src)
	target, ok2 := v.PathOf(point)
	if !ok || !ok2 {
		return unix.ENOENT
	}
	// The root field: the source's path within its own mount.
	root := srcPath
	if from.Target != "/" {
		root = strings.TrimPrefix(srcPath, from.Target)
	}
	if from.Root != "" && from.Root != "/" {
		root = from.Root + root
	}
	if root == "" {
		root = "/"
	}
	m := from
	m.ID, m.ParentID, m.Target, m.Backed, m.BindPath, m.Root = 0, 0, target, false, srcPath, root
	m.Fixed, m.SB = 0, 0 // of the source's mount (a namespace's copy), not of this one
	// clone_mnt: a bind of a shared mount is its peer, of a slave a
	// slave of the same master; of a private one, private.
	m.Unbindable = false
	m, err = v.Mounts.Add(m)
	if err != nil {
		return err
	}
	if _, err := v.GraftBind(point, src, m); err != nil {
		v.Mounts.Remove(m.ID, true)
		return err
	}
	c.Kernel.Trk.Changed(kernel.MountID(m.ID))
	propagateBind(c, m, src)
	return nil
}

// propagateBind makes, under each mount that receives the mounts of new
// mount m's parent (its shared peers and their slaves), a copy of m at
// the same place (Linux's attach_recursive_mnt): m joins a new peer group
// with its copies in peers, and the slaves' copies are its slaves. A
// copy whose mount point cannot be found there is left out, as Linux
// does for a path its peer does not show. Precondition: v.MntMu.
func propagateBind(c *kernel.Task, m mount.Mount, src *vfs.Dentry) {
	v := c.Kernel.VFS
	parent, ok := v.Mounts.Get(m.ParentID)
	if !ok || parent.Shared == 0 {
		return
	}
	if m.Shared == 0 {
		m.Shared = v.Mounts.NewGroup()
		v.Mounts.SetShared(m.ID, m.Shared)
		c.Kernel.Trk.Changed(kernel.MountID(m.ID))
	}
	for _, r := range v.Mounts.Receivers(parent.ID) {
		if r.ID == m.ID {
			// m is a peer of the parent already (a bind of it), but
			// not yet a receiver (Linux: IS_MNT_NEW).
			continue
		}
		at, ok := mount.PathIn(parent, r, m.Target)
		if !ok {
			continue
		}
		// The place as r's namespace sees it.
		point, err := v.Resolve(inNS{c, r.NS}, v.Root, at, true)
		if err != nil || point.Kind != vfs.KindGofer || point == v.Root || v.MountRootIn(r.NS, point) != nil {
			continue
		}
		cp := m
		cp.ID, cp.ParentID, cp.Target, cp.NS = 0, 0, at, r.NS
		if r.Shared != parent.Shared {
			// A slave's copy is a slave of m's group.
			cp.Shared, cp.Master = 0, m.Shared
		}
		cp, err = v.Mounts.Add(cp)
		if err != nil {
			continue
		}
		if cp.ParentID != r.ID {
			// The place is covered by another mount in r.
			v.Mounts.Remove(cp.ID, true)
			continue
		}
		if _, err := v.GraftBind(point, src, cp); err != nil {
			v.Mounts.Remove(cp.ID, true)
			continue
		}
		c.Kernel.Trk.Changed(kernel.MountID(cp.ID))
	}
}

// Umount2 implements umount2(2) of a mount the sentry made.
func Umount2(c *kernel.Task) (int64, error) {
	if !c.ProcessCreds().Capable(linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	target, err := PathArg(c, 0)
	if err != nil {
		return 0, err
	}
	flags := uint32(c.Args[1])
	if flags&^(linux.MNT_FORCE|linux.MNT_DETACH|linux.MNT_EXPIRE|linux.UMOUNT_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	if flags&linux.MNT_EXPIRE != 0 {
		if flags&(linux.MNT_FORCE|linux.MNT_DETACH) != 0 {
			return 0, unix.EINVAL
		}
		// Expiry marks an unused mount on a first call (EAGAIN) and
		// unmounts it on a second: not kept here.
		c.Kernel.LogUnsupportedOnce("umount2(MNT_EXPIRE)")
		return 0, unix.EINVAL
	}
	v := c.Kernel.VFS
	ns := c.MountNS()
	d, err := v.Resolve(c, c.Cwd(), target, flags&linux.UMOUNT_NOFOLLOW == 0)
	if err != nil {
		return 0, err
	}
	v.MntMu.Lock()
	defer v.MntMu.Unlock()
	c.Kernel.ReapMountNS()
	vm := v.MountRootIn(ns, d)
	if vm == nil && d.Kind == vfs.KindMqueueDir {
		for _, m := range v.Mounts.ListNS(ns) {
			if vfs.IsMqueueMount(m) {
				if _, err := v.Mounts.Remove(m.ID, flags&linux.MNT_DETACH != 0); err != nil {
					return 0, err
				}
				c.Kernel.Trk.Changed(kernel.MountID(m.ID))
				return 0, nil
			}
		}
	}
	if vm == nil {
		if d == v.Root || d == v.ProcDir || d == v.DevDir {
			// The sentry's own mounts stay.
			return 0, unix.EBUSY
		}
		if p, ok := v.PathOf(d); ok && d.Kind == vfs.KindGofer {
			for _, m := range v.Mounts.ListNS(ns) {
				if m.Target == p && !m.Backed && m.BindPath == "" {
					// Made outside the sentry (a volume, an OCI
					// bundle's mount): the gofer serves it and
					// keeps it.
					return 0, fmt.Errorf("umount of %q, mounted by the gofer: %w", p, unix.EBUSY)
				}
			}
		}
		return 0, unix.EINVAL
	}
	detach := flags&linux.MNT_DETACH != 0
	if vm.Src == nil && v.BindSources(vm.ID) {
		// A bind mount's files are this tmpfs's directory.
		return 0, fmt.Errorf("a bind mount's source is in this mount: %w", unix.EBUSY)
	}
	if !detach {
		if c.Kernel.MountBusy(vm.ID) {
			return 0, unix.EBUSY
		}
	}
	umounted, _ := v.Mounts.Get(vm.ID)
	gone, err := v.Mounts.Remove(vm.ID, detach)
	if err != nil {
		return 0, err
	}
	gone = append(gone, v.PropagateUmount(umounted)...)
	// The mount and, detached with it, those under it (deepest first).
	for _, m := range gone {
		if g := v.GraftedByID(m.ID); g != nil {
			v.Ungraft(g, detach && c.Kernel.MountBusy(m.ID))
		}
		c.Kernel.Trk.Changed(kernel.MountID(m.ID))
	}
	return 0, nil
}

// ramFor is the client machine's memory when tmpfs options data need it
// (size=N%: Linux takes a share of the machine the application runs on),
// else 0.
func ramFor(c *kernel.Task, data string) (uint64, error) {
	if !strings.Contains(data, "%") {
		return 0, nil
	}
	a, err := c.Kernel.Out.Ask(&sentrypb.ProcQuery{Kind: sentrypb.ProcQuery_MACHINE})
	if err != nil {
		return 0, fmt.Errorf("size=%%: the client's memory: %w", err)
	}
	return a.GetMachine().GetMemTotal(), nil
}

// inNS is c walking in mount namespace ns from the sandbox's root: a
// propagated mount's place in a receiver of another namespace.
type inNS struct {
	*kernel.Task
	ns uint64
}

// MountNS is the walk's namespace (vfs.NamespacedCaller).
func (c inNS) MountNS() uint64 { return c.ns }

// FSRoot is nil: the walk starts at the sandbox's root, not at the
// caller's (vfs.RootedCaller).
func (c inNS) FSRoot() *vfs.Dentry { return nil }
