package server

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mount"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// mountDataMax bounds mount(2)'s data (Linux copies one page).
const mountDataMax = 4096

// blockFS are file systems that need a block device, which the sandbox
// has none of: mount(2) of one is EPERM, as in runsc; other types it
// does not serve are ENODEV.
var blockFS = map[string]bool{
	"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "vfat": true, "msdos": true,
	"exfat": true, "ntfs": true, "ntfs3": true, "iso9660": true, "udf": true, "f2fs": true, "jfs": true,
	"reiserfs": true, "squashfs": true, "erofs": true, "minix": true, "hfs": true, "hfsplus": true,
}

// mountFlagsIgnored are mount(2) flags that change nothing here: MS_SILENT
// and MS_REC (propagation and bind mounts are recursive anyway), the
// superblock's sync/mand/lazytime flags, and MS_KERNMOUNT-like internals.
const mountFlagsIgnored = unix.MS_SILENT | unix.MS_REC | unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC |
	unix.MS_MANDLOCK | unix.MS_LAZYTIME | unix.MS_I_VERSION

// propagationFlags change a mount's propagation, which a sandbox of one
// mount namespace does not have.
const propagationFlags = unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE

// sysMount implements mount(2): a tmpfs at a directory, remounting a
// mount the sentry made with other flags or options, and propagation
// changes (which change nothing: there is one mount namespace).
func sysMount(c *syscallCtx) (int64, error) {
	if !c.creds().capable(linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	var source, fstype, data string
	var err error
	if c.args[0] != 0 {
		if source, err = c.mem.CopyInString(c.args[0], sysabi.PathMax); err != nil {
			return 0, err
		}
	}
	target, err := c.pathArg(1)
	if err != nil {
		return 0, err
	}
	if c.args[2] != 0 {
		if fstype, err = c.mem.CopyInString(c.args[2], 256); err != nil {
			return 0, err
		}
	}
	if c.args[4] != 0 {
		if data, err = c.mem.CopyInString(c.args[4], mountDataMax); err != nil {
			return 0, err
		}
	}
	flags := c.args[3]
	if flags&linux.MS_MGC_MSK == linux.MS_MGC_VAL {
		flags &^= linux.MS_MGC_MSK
	}
	flags &^= mountFlagsIgnored
	v := c.k.vfs
	point, err := v.resolve(c, c.cwd(), target, true)
	if err != nil {
		return 0, err
	}
	v.mntMu.Lock()
	defer v.mntMu.Unlock()
	switch {
	case flags&unix.MS_REMOUNT != 0:
		return 0, c.remount(point, flags, data)
	case flags&unix.MS_BIND != 0:
		return 0, c.bindMount(source, point)
	case flags&unix.MS_MOVE != 0:
		logUnsupportedOnce(c.k, "mount(MS_MOVE)")
		return 0, fmt.Errorf("moving mounts: %w", unix.EINVAL)
	case flags&propagationFlags != 0:
		// Exactly one propagation type, with only MS_REC and MS_SILENT
		// beside it (Linux's flags_to_propagation_type).
		pt := flags & propagationFlags
		if pt&(pt-1) != 0 || flags&^propagationFlags != 0 {
			return 0, unix.EINVAL
		}
		if !v.isMountPoint(point) {
			return 0, unix.EINVAL
		}
		return 0, nil
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
	if !point.isDir() {
		return 0, unix.ENOTDIR
	}
	if point == v.root || point.kind != dkGofer {
		// Over the root or a synthesized directory (/dev, /proc).
		return 0, fmt.Errorf("mount over %q: %w", target, unix.EINVAL)
	}
	ram, err := c.ramFor(data)
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
	p, ok := v.pathOf(point)
	if !ok {
		return 0, unix.ENOENT
	}
	if source == "" {
		source = "none"
	}
	// The record keeps the options as parsed (a size=N% is of this
	// machine, now).
	m, err := v.mounts.Add(mount.Mount{FSType: fstype, Source: source, Target: p, Flags: flags, Data: strings.TrimPrefix(o.String(), ","),
		FSOptions: o.String(), Backed: true, Tmpfs: o, SuperReadOnly: flags&unix.MS_RDONLY != 0})
	if err != nil {
		return 0, err
	}
	dev := uint64(unix.Mkdev(0, uint32(0x100+m.ID)))
	m.Dev = dev
	if _, err := v.graftTmpfs(point, m, true); err != nil {
		v.mounts.Remove(m.ID, true)
		return 0, err
	}
	v.mounts.SetDev(m.ID, dev)
	c.k.trk.markMount(m.ID)
	return 0, nil
}

// remount changes the flags (and, without MS_BIND, the options) of the
// mount whose root is point: one the sentry made.
func (c *syscallCtx) remount(point *dentry, flags uint64, data string) error {
	v := c.k.vfs
	vm := v.mountRoot(point)
	if vm == nil {
		return fmt.Errorf("remount of a mount the sentry did not make: %w", unix.EINVAL)
	}
	m, ok := v.mounts.Get(vm.id)
	if !ok {
		return unix.EINVAL
	}
	flags &^= unix.MS_REMOUNT
	var newData *string
	fsopts := m.FSOptions
	if flags&unix.MS_BIND == 0 && m.FSType == "tmpfs" {
		ram, err := c.ramFor(data)
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
	if err := v.mounts.SetFlags(vm.id, flags, newData, fsopts, flags&unix.MS_RDONLY != 0); err != nil {
		return err
	}
	if newData != nil {
		o, _ := mount.ParseTmpfsOptions(*newData, 0)
		v.mounts.SetTmpfs(vm.id, o)
	}
	c.k.trk.markMount(vm.id)
	return nil
}

// bindMount mounts the file at path source over point (MS_BIND): a new
// mount of the same files, with the flags of the mount source is in. Its
// submounts are not brought along (MS_REC changes nothing).
func (c *syscallCtx) bindMount(source string, point *dentry) error {
	v := c.k.vfs
	if source == "" {
		return unix.EFAULT
	}
	src, err := v.resolve(c, c.cwd(), source, true)
	if err != nil {
		return err
	}
	if src.kind != dkGofer || point.kind != dkGofer || point == v.root {
		return fmt.Errorf("bind mount of %q: not a file of the gofer's tree: %w", source, unix.EINVAL)
	}
	if src.isDir() != point.isDir() {
		if point.isDir() {
			return unix.ENOTDIR
		}
		return unix.EISDIR
	}
	from, _ := v.mountInfoOf(src)
	srcPath, ok := v.pathOf(src)
	target, ok2 := v.pathOf(point)
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
	m, err = v.mounts.Add(m)
	if err != nil {
		return err
	}
	if _, err := v.graftBind(point, src, m); err != nil {
		v.mounts.Remove(m.ID, true)
		return err
	}
	c.k.trk.markMount(m.ID)
	return nil
}

// isMountPoint says d is the root of a mount.
func (v *vfs) isMountPoint(d *dentry) bool {
	return d == v.root || d == v.proc || d == v.dev || v.mountRoot(d) != nil
}

// sysUmount2 implements umount2(2) of a mount the sentry made.
func sysUmount2(c *syscallCtx) (int64, error) {
	if !c.creds().capable(linux.CAP_SYS_ADMIN) {
		return 0, unix.EPERM
	}
	target, err := c.pathArg(0)
	if err != nil {
		return 0, err
	}
	flags := uint32(c.args[1])
	if flags&^(linux.MNT_FORCE|linux.MNT_DETACH|linux.MNT_EXPIRE|linux.UMOUNT_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	if flags&linux.MNT_EXPIRE != 0 {
		if flags&(linux.MNT_FORCE|linux.MNT_DETACH) != 0 {
			return 0, unix.EINVAL
		}
		// Expiry marks an unused mount on a first call (EAGAIN) and
		// unmounts it on a second: not kept here.
		logUnsupportedOnce(c.k, "umount2(MNT_EXPIRE)")
		return 0, unix.EINVAL
	}
	v := c.k.vfs
	d, err := v.resolve(c, c.cwd(), target, flags&linux.UMOUNT_NOFOLLOW == 0)
	if err != nil {
		return 0, err
	}
	v.mntMu.Lock()
	defer v.mntMu.Unlock()
	vm := v.mountRoot(d)
	if vm == nil && d.kind == dkMqueueDir {
		for _, m := range v.mounts.List() {
			if isMqueueMount(m) {
				if _, err := v.mounts.Remove(m.ID, flags&linux.MNT_DETACH != 0); err != nil {
					return 0, err
				}
				v.setMqueue(0)
				c.k.trk.markMount(m.ID)
				return 0, nil
			}
		}
	}
	if vm == nil {
		if d == v.root || d == v.proc || d == v.dev {
			// The sentry's own mounts stay.
			return 0, unix.EBUSY
		}
		if p, ok := v.pathOf(d); ok && d.kind == dkGofer {
			for _, m := range v.mounts.List() {
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
	if vm.src == nil && v.bindSources(vm.id) {
		// A bind mount's files are this tmpfs's directory.
		return 0, fmt.Errorf("a bind mount's source is in this mount: %w", unix.EBUSY)
	}
	if !detach {
		if c.k.mountBusy(vm.id) {
			return 0, unix.EBUSY
		}
	}
	gone, err := v.mounts.Remove(vm.id, detach)
	if err != nil {
		return 0, err
	}
	// The mount and, detached with it, those under it (deepest first).
	for _, m := range gone {
		if g := v.graftedByID(m.ID); g != nil {
			v.ungraft(g, detach && c.k.mountBusy(m.ID))
		}
		c.k.trk.markMount(m.ID)
	}
	return 0, nil
}

// graftedByID returns grafted mount id, or nil.
func (v *vfs) graftedByID(id int) *vmount {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, vm := range v.roots {
		if vm.id == id {
			return vm
		}
	}
	return nil
}

// ramFor is the client machine's memory when tmpfs options data need it
// (size=N%: Linux takes a share of the machine the application runs on),
// else 0.
func (c *syscallCtx) ramFor(data string) (uint64, error) {
	if !strings.Contains(data, "%") {
		return 0, nil
	}
	a, err := c.k.askClient(&sentrypb.ProcQuery{Kind: sentrypb.ProcQuery_MACHINE})
	if err != nil {
		return 0, fmt.Errorf("size=%%: the client's memory: %w", err)
	}
	return a.GetMachine().GetMemTotal(), nil
}
