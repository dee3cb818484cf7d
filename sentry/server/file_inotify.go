package server

import (
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inotify"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// inotify runs on gVisor's vfs.Inotify (kobj.Inotify; the file kind is
// package fsimpl/inotify). A watched inode is a kobj.InotifyTarget, one
// per inode number while it has watches (inotify.Targets), and the server's own file operations report events to
// it and to its parent directory's target (inotifyEvent, inotifyChild).
// Only this client's operations through this server are seen: changes by
// other clients of the gofer or on the host are not.

// Events the server's file operations report.
const (
	inAccess = linux.IN_ACCESS
	inModify = linux.IN_MODIFY
	inOpen   = linux.IN_OPEN
	inCreate = linux.IN_CREATE
	inDelete = linux.IN_DELETE
)

// inotifyStatEvents is the event of an attribute change of mask
// (STATX_*): IN_ATTRIB, or IN_MODIFY for a size change.
func inotifyStatEvents(mask uint32) uint32 { return kobj.InotifyStatEvents(mask) }

// inotifyEvent reports events on d: to d's watches, and to its parent's
// with d's name (IN_ISDIR added for a directory), as Linux's fsnotify.
func inotifyEvent(k *clientState, d *dentry, events uint32) {
	if !k.Inotify.Any() || d == nil {
		return
	}
	if d.IsDir() {
		events |= linux.IN_ISDIR
	}
	v := k.VFS
	if parent := v.ParentOf(d); parent != nil && parent != d {
		if t := k.Inotify.Target(parent.Ino(), false); t != nil {
			// An unlinked child still reports to its directory, but
			// not to IN_EXCL_UNLINK watches.
			t.NotifyChild(v.NameOf(d), events, v.IsDeleted(d))
		}
	}
	if t := k.Inotify.Target(d.Ino(), false); t != nil {
		t.Notify("", events, 0, false)
	}
}

// inotifyChild reports an event of directory dir about its child name
// (IN_CREATE, IN_DELETE).
func inotifyChild(k *clientState, dir *dentry, name string, events uint32, isDir bool) {
	if !k.Inotify.Any() || dir == nil {
		return
	}
	if isDir {
		events |= linux.IN_ISDIR
	}
	if t := k.Inotify.Target(dir.Ino(), false); t != nil {
		t.Notify(name, events, 0, events&linux.IN_DELETE != 0)
	}
}

// inotifyRemoved reports the removal of child (inode ino, a directory if
// isDir) from dir, in Linux's order: IN_ATTRIB for its link count,
// IN_DELETE_SELF (and its watches dropped) when gone is set, then
// IN_DELETE to dir.
func inotifyRemoved(k *clientState, dir *dentry, name string, ino uint64, isDir, gone bool) {
	if !k.Inotify.Any() {
		return
	}
	if self := k.Inotify.Target(ino, false); self != nil {
		if !isDir {
			self.Notify("", linux.IN_ATTRIB, 0, true)
		}
		if gone {
			self.Deleted()
		}
	}
	inotifyChild(k, dir, name, linux.IN_DELETE, isDir)
}

// inotifyRenamed reports a rename of the child oldName of oldDir to
// newName in newDir (inode ino).
func inotifyRenamed(k *clientState, oldDir, newDir *dentry, oldName, newName string, ino uint64, isDir bool) {
	if !k.Inotify.Any() {
		return
	}
	var dirEv uint32
	if isDir {
		dirEv = linux.IN_ISDIR
	}
	cookie := kobj.NewCookie()
	if t := k.Inotify.Target(oldDir.Ino(), false); t != nil {
		t.Notify(oldName, dirEv|linux.IN_MOVED_FROM, cookie, false)
	}
	if t := k.Inotify.Target(newDir.Ino(), false); t != nil {
		t.Notify(newName, dirEv|linux.IN_MOVED_TO, cookie, false)
	}
	if t := k.Inotify.Target(ino, false); t != nil {
		t.Notify("", linux.IN_MOVE_SELF, 0, false)
	}
}

// inotifyClosed reports the release of description f.
func (kp *kernelPorts) InotifyClosed(f *file) {
	k := (*clientState)(kp)
	if !k.Inotify.Any() || vfs.DentryOf(f) == nil || f.IsPath() || !f.CloseNoted.CompareAndSwap(false, true) {
		return
	}
	ev := uint32(linux.IN_CLOSE_NOWRITE)
	if f.Writable() {
		ev = linux.IN_CLOSE_WRITE
	}
	inotifyEvent(k, vfs.DentryOf(f), ev)
}

// inotifyState is an instance's record: its live watches (by file handle
// and path). Precondition: k.Mu is held.
func inotifyState(k *clientState, i *inotify.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	st := &sentrypb.KernelObjectState{}
	for _, w := range i.Watches() {
		d, _ := w.Dentry.(*dentry)
		if d == nil {
			continue
		}
		p, _ := k.VFS.PathOf(d)
		st.InotifyWatches = append(st.InotifyWatches, &sentrypb.InotifyWatchState{
			Wd: w.WD, Mask: w.Mask, FileHandle: k.VFS.FileHandleOf(d), Path: p})
	}
	return sentrypb.FileState_INOTIFY, st
}

// restoreInotify rebuilds an inotify instance with its watches and their
// descriptors; a watch whose file is gone is dropped (its descriptor is
// not reused).
func restoreInotify(k *clientState, rc *syscallCtx, fs *sentrypb.FileState) (*file, error) {
	f, err := inotify.New(0)
	if err != nil {
		return nil, err
	}
	f.Flags.Store(fs.Flags)
	in := f.Impl.(*inotify.File)
	var ws []inotify.Watch
	last := int32(0)
	for _, w := range fs.Kobj.GetInotifyWatches() {
		if w.GetWd() <= last {
			f.DecRef()
			return nil, fmt.Errorf("inotify watch descriptor %d after %d: %w", w.GetWd(), last, unix.EINVAL)
		}
		last = w.Wd
		d, err := k.RestoreDentry(rc, w.FileHandle, w.Path, false)
		if err != nil {
			k.Log.Warn("an inotify watch's file is gone; the watch is dropped", "wd", w.Wd, "path", w.Path, "err", err)
			continue
		}
		ws = append(ws, inotify.Watch{WD: w.Wd, Mask: w.Mask, Dentry: d, Target: k.Inotify.Target(d.Ino(), true)})
	}
	if err := in.Restore(ws); err != nil {
		f.DecRef()
		return nil, fmt.Errorf("inotify watches: %w", err)
	}
	return f, nil
}

func sysInotifyInit(c *syscallCtx) (int64, error) {
	var flags uint32
	if c.Sysno == unix.SYS_INOTIFY_INIT1 {
		flags = uint32(c.Args[0])
	}
	if flags&^(unix.IN_CLOEXEC|unix.IN_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	tab, err := c.FDTable()
	if err != nil {
		return 0, err
	}
	f, err := inotify.New(flags)
	if err != nil {
		return 0, err
	}
	fd, err := tab.Install(f, 0, flags&unix.IN_CLOEXEC != 0)
	return int64(fd), err
}

// inotifyOf returns fd's inotify instance (EBADF, or EINVAL for another
// kind of file).
func inotifyOf(c *syscallCtx, fd int32) (*file, *inotify.File, error) {
	return fileAs[*inotify.File](c, fd, unix.EINVAL)
}

func sysInotifyAddWatch(c *syscallCtx) (int64, error) {
	mask := uint32(c.Args[2])
	f, in, err := inotifyOf(c, argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if mask&linux.ALL_INOTIFY_BITS == 0 || mask&^(linux.ALL_INOTIFY_BITS|inotify.MaskCreate) != 0 {
		return 0, unix.EINVAL
	}
	if mask&linux.IN_MASK_ADD != 0 && mask&inotify.MaskCreate != 0 {
		return 0, unix.EINVAL
	}
	p, err := pathArg(c, 1)
	if err != nil {
		return 0, err
	}
	d, _, err := lookupAt(c, atFDCWD, p, mask&linux.IN_DONT_FOLLOW == 0, false)
	if err != nil {
		return 0, err
	}
	if mask&linux.IN_ONLYDIR != 0 && !d.IsDir() {
		return 0, unix.ENOTDIR
	}
	// Linux needs read permission on the file.
	if err := c.MayAccess(d, auth.MayRead); err != nil {
		return 0, err
	}
	wd, err := in.AddWatch(c.Kernel.Inotify.Target(d.Ino(), true), d, mask)
	if err != nil {
		return 0, err
	}
	revokeLeasesForWatch(c.Kernel)
	f.Changed()
	return int64(wd), nil
}

func sysInotifyRmWatch(c *syscallCtx) (int64, error) {
	f, in, err := inotifyOf(c, argInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	wd := int32(c.Args[1])
	if err := in.RmWatch(wd); err != nil {
		return 0, err
	}
	f.Changed()
	return 0, nil
}
