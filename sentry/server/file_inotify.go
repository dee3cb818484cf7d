package server

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kobj"
)

// inotify runs on gVisor's vfs.Inotify (kobj.Inotify). A watched inode is
// a kobj.InotifyTarget, one per inode number while it has watches
// (inotifyState), and the server's own file operations report events to
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

// inMaskCreate is IN_MASK_CREATE: add a watch only if the file has none
// of this instance (EEXIST).
const inMaskCreate = 0x10000000

// inotifyState is the client's watched inodes.
type inotifyState struct {
	// watched is how many targets exist: the event hooks return at once
	// when it is 0.
	watched atomic.Int32
	// mu protects targets. A leaf: gVisor is never called with it held.
	mu      sync.Mutex
	targets map[uint64]*kobj.InotifyTarget
}

// target returns the target of inode ino, made if make is set (else nil
// when it has none).
func (s *inotifyState) target(ino uint64, create bool) *kobj.InotifyTarget {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.targets[ino]; t != nil || !create {
		return t
	}
	if s.targets == nil {
		s.targets = make(map[uint64]*kobj.InotifyTarget)
	}
	var t *kobj.InotifyTarget
	t = kobj.NewInotifyTarget(func() {
		s.mu.Lock()
		if s.targets[ino] == t {
			delete(s.targets, ino)
			s.watched.Add(-1)
		}
		s.mu.Unlock()
	})
	s.targets[ino] = t
	s.watched.Add(1)
	return t
}

// inotifyEvent reports events on d: to d's watches, and to its parent's
// with d's name (IN_ISDIR added for a directory), as Linux's fsnotify.
func (k *clientState) inotifyEvent(d *dentry, events uint32) {
	if k.inotify.watched.Load() == 0 || d == nil {
		return
	}
	if d.isDir() {
		events |= linux.IN_ISDIR
	}
	v := k.vfs
	if parent := v.parentOf(d); parent != nil && parent != d {
		if t := k.inotify.target(parent.ino, false); t != nil {
			// An unlinked child still reports to its directory, but
			// not to IN_EXCL_UNLINK watches.
			t.NotifyChild(d.name, events, v.isDeleted(d))
		}
	}
	if t := k.inotify.target(d.ino, false); t != nil {
		t.Notify("", events, 0, false)
	}
}

// inotifyChild reports an event of directory dir about its child name
// (IN_CREATE, IN_DELETE).
func (k *clientState) inotifyChild(dir *dentry, name string, events uint32, isDir bool) {
	if k.inotify.watched.Load() == 0 || dir == nil {
		return
	}
	if isDir {
		events |= linux.IN_ISDIR
	}
	if t := k.inotify.target(dir.ino, false); t != nil {
		t.Notify(name, events, 0, events&linux.IN_DELETE != 0)
	}
}

// inotifyRemoved reports the removal of child (inode ino, a directory if
// isDir) from dir, in Linux's order: IN_ATTRIB for its link count,
// IN_DELETE_SELF (and its watches dropped) when gone is set, then
// IN_DELETE to dir.
func (k *clientState) inotifyRemoved(dir *dentry, name string, ino uint64, isDir, gone bool) {
	if k.inotify.watched.Load() == 0 {
		return
	}
	if self := k.inotify.target(ino, false); self != nil {
		if !isDir {
			self.Notify("", linux.IN_ATTRIB, 0, true)
		}
		if gone {
			self.Deleted()
		}
	}
	k.inotifyChild(dir, name, linux.IN_DELETE, isDir)
}

// inotifyRenamed reports a rename of the child oldName of oldDir to
// newName in newDir (inode ino).
func (k *clientState) inotifyRenamed(oldDir, newDir *dentry, oldName, newName string, ino uint64, isDir bool) {
	if k.inotify.watched.Load() == 0 {
		return
	}
	var dirEv uint32
	if isDir {
		dirEv = linux.IN_ISDIR
	}
	cookie := kobj.NewCookie()
	if t := k.inotify.target(oldDir.ino, false); t != nil {
		t.Notify(oldName, dirEv|linux.IN_MOVED_FROM, cookie, false)
	}
	if t := k.inotify.target(newDir.ino, false); t != nil {
		t.Notify(newName, dirEv|linux.IN_MOVED_TO, cookie, false)
	}
	if t := k.inotify.target(ino, false); t != nil {
		t.Notify("", linux.IN_MOVE_SELF, 0, false)
	}
}

// inotifyClosed reports the release of description f.
func (k *clientState) inotifyClosed(f *file) {
	if k.inotify.watched.Load() == 0 || f.d == nil || f.isPath() || !f.closeNoted.CompareAndSwap(false, true) {
		return
	}
	ev := uint32(linux.IN_CLOSE_NOWRITE)
	if f.writable() {
		ev = linux.IN_CLOSE_WRITE
	}
	k.inotifyEvent(f.d, ev)
}

// inotifyFile is an inotify instance (kobj.Inotify over gVisor's
// vfs.Inotify).
type inotifyFile struct {
	kobjBase
	in *kobj.Inotify
	k  *clientState

	// mu protects watched: the dentry of each watch descriptor, for
	// its replay record. A leaf.
	mu      sync.Mutex
	watched map[int32]*dentry
}

// kobjState reports the live watches (by file handle and path).
// Precondition: k.mu is held.
func (i *inotifyFile) kobjState(k *clientState) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState) {
	st := &sentrypb.KernelObjectState{}
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, w := range i.in.Watches() {
		d := i.watched[w.WD]
		if d == nil {
			continue
		}
		p, _ := k.vfs.pathOf(d)
		st.InotifyWatches = append(st.InotifyWatches, &sentrypb.InotifyWatchState{
			Wd: w.WD, Mask: w.Mask, FileHandle: k.vfs.fileHandleOf(d), Path: p})
	}
	return sentrypb.FileState_INOTIFY, st
}

// fdinfo is the instance's part of /proc/<pid>/fdinfo/<fd>: a line per
// watch, as Linux's (its file handle is not shown).
func (i *inotifyFile) fdinfo() []byte {
	var b []byte
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, w := range i.in.Watches() {
		var ino uint64
		if d := i.watched[w.WD]; d != nil {
			ino = d.ino
		}
		b = fmt.Appendf(b, "inotify wd:%x ino:%x sdev:0 mask:%x ignored_mask:0\n", w.WD, ino, w.Mask&^linux.IN_MASK_ADD)
	}
	return b
}

// restoreInotify rebuilds an inotify instance with its watches and their
// descriptors; a watch whose file is gone is dropped (its descriptor is
// not reused).
func (k *clientState) restoreInotify(rc *syscallCtx, fs *sentrypb.FileState) (*file, error) {
	f, err := newInotifyFile(k, 0)
	if err != nil {
		return nil, err
	}
	f.flags.Store(fs.Flags)
	in := f.impl.(*inotifyFile)
	var ws []kobj.InotifyWatch
	last := int32(0)
	for _, w := range fs.Kobj.GetInotifyWatches() {
		if w.GetWd() <= last {
			f.DecRef()
			return nil, fmt.Errorf("inotify watch descriptor %d after %d: %w", w.GetWd(), last, unix.EINVAL)
		}
		last = w.Wd
		d, err := k.restoreDentry(rc, w.FileHandle, w.Path, false)
		if err != nil {
			k.log.Warn("an inotify watch's file is gone; the watch is dropped", "wd", w.Wd, "path", w.Path, "err", err)
			continue
		}
		ws = append(ws, kobj.InotifyWatch{WD: w.Wd, Mask: w.Mask, Target: k.inotify.target(d.ino, true)})
		in.watched[w.Wd] = d
	}
	if err := in.in.Restore(ws); err != nil {
		f.DecRef()
		return nil, fmt.Errorf("inotify watches: %w", err)
	}
	return f, nil
}

func (i *inotifyFile) read(c fdesc.Call, f *file, n int, _ int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := i.readSeq(c, f, usermem.BytesIOSequence(b))
	return b[:m], err
}

func (i *inotifyFile) readSeq(c fdesc.Call, f *file, dst usermem.IOSequence) (int64, error) {
	return blockOn(c, f, i.in.Watch, false, func() (int64, error) { return i.in.Read(dst) })
}

func (i *inotifyFile) writeSeq(fdesc.Call, *file, usermem.IOSequence) (int64, error) {
	return 0, unix.EBADF
}

func (i *inotifyFile) write(fdesc.Call, *file, []byte, int64) (int, error) { return 0, unix.EBADF }

func (i *inotifyFile) readiness(*file) (uint32, <-chan struct{}) {
	ch := i.in.Watch.Changed()
	return i.in.Readiness(), ch
}

func (i *inotifyFile) release() { i.in.Release() }

// queued is FIONREAD: the size of the queued events.
func (i *inotifyFile) queued() (int, error) { return i.in.Queued() }

func newInotifyFile(k *clientState, flags uint32) (*file, error) {
	in, err := kobj.NewInotify()
	if err != nil {
		return nil, err
	}
	return newFile(&inotifyFile{kobjBase: newKobjBase(0600), in: in, k: k, watched: make(map[int32]*dentry)},
		nil, unix.O_RDONLY|flags&unix.O_NONBLOCK), nil
}

func sysInotifyInit(c *syscallCtx) (int64, error) {
	var flags uint32
	if c.sysno == unix.SYS_INOTIFY_INIT1 {
		flags = uint32(c.args[0])
	}
	if flags&^(unix.IN_CLOEXEC|unix.IN_NONBLOCK) != 0 {
		return 0, unix.EINVAL
	}
	tab, err := c.fdTable()
	if err != nil {
		return 0, err
	}
	f, err := newInotifyFile(c.k, flags)
	if err != nil {
		return 0, err
	}
	fd, err := tab.install(f, 0, flags&unix.IN_CLOEXEC != 0)
	return int64(fd), err
}

// inotifyOf returns fd's inotify instance (EBADF, or EINVAL for another
// kind of file).
func (c *syscallCtx) inotifyOf(fd int32) (*file, *inotifyFile, error) {
	return fileAs[*inotifyFile](c, fd, unix.EINVAL)
}

func sysInotifyAddWatch(c *syscallCtx) (int64, error) {
	mask := uint32(c.args[2])
	f, in, err := c.inotifyOf(c.argInt(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if mask&linux.ALL_INOTIFY_BITS == 0 || mask&^(linux.ALL_INOTIFY_BITS|inMaskCreate) != 0 {
		return 0, unix.EINVAL
	}
	if mask&linux.IN_MASK_ADD != 0 && mask&inMaskCreate != 0 {
		return 0, unix.EINVAL
	}
	p, err := c.pathArg(1)
	if err != nil {
		return 0, err
	}
	d, _, err := c.lookupAt(atFDCWD, p, mask&linux.IN_DONT_FOLLOW == 0, false)
	if err != nil {
		return 0, err
	}
	if mask&linux.IN_ONLYDIR != 0 && !d.isDir() {
		return 0, unix.ENOTDIR
	}
	// Linux needs read permission on the file.
	if err := c.mayAccessDentry(d, auth.MayRead); err != nil {
		return 0, err
	}
	t := c.k.inotify.target(d.ino, true)
	if mask&inMaskCreate != 0 {
		// Only a new watch: EEXIST if this instance watches t.
		for _, w := range in.in.Watches() {
			if w.Target == t {
				return 0, unix.EEXIST
			}
		}
	}
	wd := in.in.AddWatch(t, mask&^inMaskCreate)
	in.mu.Lock()
	in.watched[wd] = d
	in.mu.Unlock()
	f.changed()
	return int64(wd), nil
}

func sysInotifyRmWatch(c *syscallCtx) (int64, error) {
	f, in, err := c.inotifyOf(c.argInt(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	wd := int32(c.args[1])
	if err := in.in.RmWatch(wd); err != nil {
		return 0, err
	}
	in.mu.Lock()
	delete(in.watched, wd)
	in.mu.Unlock()
	f.changed()
	return 0, nil
}
