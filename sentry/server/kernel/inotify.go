package kernel

import (
	"fmt"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inotify"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// inotify runs on gVisor's vfs.Inotify (kobj.Inotify; the file kind is
// package fsimpl/inotify, its calls package syscalls' inotify.go). A
// watched inode is a kobj.InotifyTarget, one per inode number while it
// has watches (Kernel.Inotify), and the server's own file operations
// report events to it and to its parent directory's target
// (InotifyEvent, InotifyChild). Only this client's operations through
// this server are seen: changes by other clients of the gofer or on the
// host are not.

// InotifyEvent reports events on d: to d's watches, and to its parent's
// with d's name (IN_ISDIR added for a directory), as Linux's fsnotify.
func (k *Kernel) InotifyEvent(d *vfs.Dentry, events uint32) {
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

// InotifyChild reports an event of directory dir about its child name
// (IN_CREATE, IN_DELETE).
func (k *Kernel) InotifyChild(dir *vfs.Dentry, name string, events uint32, isDir bool) {
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

// InotifyRemoved reports the removal of child (inode ino, a directory if
// isDir) from dir, in Linux's order: IN_ATTRIB for its link count,
// IN_DELETE_SELF (and its watches dropped) when gone is set, then
// IN_DELETE to dir.
func (k *Kernel) InotifyRemoved(dir *vfs.Dentry, name string, ino uint64, isDir, gone bool) {
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
	k.InotifyChild(dir, name, linux.IN_DELETE, isDir)
}

// InotifyRenamed reports a rename of the child oldName of oldDir to
// newName in newDir (inode ino).
func (k *Kernel) InotifyRenamed(oldDir, newDir *vfs.Dentry, oldName, newName string, ino uint64, isDir bool) {
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

// InotifyClosed reports the release of description f (IN_CLOSE_WRITE or
// IN_CLOSE_NOWRITE, once).
func (k *Kernel) InotifyClosed(f *fdesc.File) {
	if !k.Inotify.Any() || vfs.DentryOf(f) == nil || f.IsPath() || !f.CloseNoted.CompareAndSwap(false, true) {
		return
	}
	ev := uint32(linux.IN_CLOSE_NOWRITE)
	if f.Writable() {
		ev = linux.IN_CLOSE_WRITE
	}
	k.InotifyEvent(vfs.DentryOf(f), ev)
}

// InotifyState is an instance's record: its live watches (by file handle
// and path). Precondition: k.Mu is held.
func (k *Kernel) InotifyState(i *inotify.File) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	st := &sentrypb.KernelObjectState{}
	for _, w := range i.Watches() {
		d, _ := w.Dentry.(*vfs.Dentry)
		if d == nil {
			continue
		}
		p, _ := k.VFS.PathOf(d)
		st.InotifyWatches = append(st.InotifyWatches, &sentrypb.InotifyWatchState{
			Wd: w.WD, Mask: w.Mask, FileHandle: k.VFS.FileHandleOf(d), Path: []byte(p)})
	}
	return sentrypb.FileState_INOTIFY, st
}

// RestoreInotify rebuilds an inotify instance with its watches and their
// descriptors; a watch whose file is gone is dropped (its descriptor is
// not reused).
func (k *Kernel) RestoreInotify(rc *Task, fs *sentrypb.FileState) (*fdesc.File, error) {
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
		d, err := k.RestoreDentry(rc, w.FileHandle, string(w.Path), false)
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
